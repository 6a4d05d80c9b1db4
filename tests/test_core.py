"""causalkit.core: device, seeding, cache, metrics, presets, progress, source display."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from causalkit.core import (
    METRIC_MIMETYPE,
    CacheWarning,
    cache_dir,
    cache_key,
    cached,
    choose_preset,
    entry_path,
    flush_denormal,
    get_device,
    progress,
    read_metrics,
    record_metric,
    seed_everything,
    source_markdown,
)
from causalkit.core.cache import LOCKS, source_version
from causalkit.core.cache import clear as clear_cache
from causalkit.core.cache import entries as cache_entries

# ------------------------------------------------------------------ device


def test_device_defaults_to_cuda_when_available_else_cpu(monkeypatch):
    monkeypatch.delenv("CAUSALKIT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_device_env_override(monkeypatch):
    monkeypatch.setenv("CAUSALKIT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_device_argument_beats_env(monkeypatch):
    monkeypatch.setenv("CAUSALKIT_DEVICE", "nonsense")
    assert get_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("bad", ["nonsense", "gpu", "meta"])
def test_device_rejects_unknown_names(monkeypatch, bad):
    monkeypatch.setenv("CAUSALKIT_DEVICE", bad)
    with pytest.raises(ValueError, match="device"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
def test_device_cuda_requested_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setenv("CAUSALKIT_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        get_device()


def test_flush_denormal_zeroes_denormals_inside_the_block_only():
    tiny = torch.tensor([1e-36])
    with flush_denormal():
        assert (tiny * 1e-5).item() == 0.0  # 1e-41 is denormal in float32: flushed
    assert (tiny * 1e-5).item() > 0.0  # PyTorch's default again afterwards


# ------------------------------------------------------------------ seeding


def _draws() -> tuple:
    return (
        np.random.rand(3).tolist(),
        torch.rand(3).tolist(),
        torch.nn.Linear(4, 2).weight.sum().item(),
    )


def test_seed_everything_repeats_numpy_torch_and_init():
    seed_everything(7)
    first = _draws()
    seed_everything(7)
    assert _draws() == first
    seed_everything(8)
    assert _draws() != first


def test_seed_everything_returns_a_seeded_generator():
    assert seed_everything(3).random() == seed_everything(3).random()


ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("package", ["causalkit", "widgets"])
def test_seeded_generators_are_cpu_generators(package):
    """A CUDA generator seeded like a CPU one gives other numbers, so a seeded run on the GPU
    would train other models than the CPU runs the bounds come from (the likely cause of
    2026-11-26's four CUDA failures).
    Every seeded stream is a CPU generator; the draws are made there and moved
    (``cgn.model.draw_on``, ``semvae.sem.draw_on``)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if "Generator(device" in line.replace(" ", "")
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


# ------------------------------------------------------------------ cache


@dataclasses.dataclass(frozen=True)
class _Config:
    width: int = 4
    rate: float = 0.1


def test_cache_dir_env_override(tmp_cache):
    assert cache_dir() == tmp_cache


def test_cache_key_depends_on_config_and_version():
    assert cache_key(_Config(), "1") == cache_key({"width": 4, "rate": 0.1}, "1")
    assert cache_key(_Config(), "1") != cache_key(_Config(width=5), "1")
    assert cache_key(_Config(), "1") != cache_key(_Config(), "2")


def test_cache_key_rejects_unhashable_config():
    with pytest.raises(TypeError, match="cache configs"):
        cache_key({"array": np.zeros(3)}, "1")


def _listing(root: Path) -> list[str]:
    """What the cache folder holds besides its lock files."""
    return sorted(p.name for p in root.iterdir() if p.name != LOCKS) if root.exists() else []


def test_cached_builds_once_then_loads(tmp_cache):
    calls = []

    def build():
        calls.append(1)
        return {"weight": torch.arange(6.0).reshape(2, 3), "loss": 0.5, "curve": [1.0, 0.5]}

    first = cached("model", _Config(), build, version="1")
    second = cached("model", _Config(), build, version="1")
    assert len(calls) == 1
    assert torch.equal(first["weight"], second["weight"]) and second["curve"] == [1.0, 0.5]
    assert _listing(tmp_cache) == [entry_path("model", _Config(), "1").name]


def test_cached_rebuilds_for_a_new_config_or_version(tmp_cache):
    calls = []
    build = lambda: calls.append(1) or {"x": torch.zeros(1)}  # noqa: E731
    cached("model", _Config(), build, version="1")
    cached("model", _Config(width=8), build, version="1")
    cached("model", _Config(), build, version="2")
    assert len(calls) == 3


def test_corrupt_cache_entry_is_rebuilt_with_a_warning(tmp_cache):
    cached("model", _Config(), lambda: {"x": torch.ones(2)}, version="1")
    path = entry_path("model", _Config(), "1")
    path.write_bytes(b"not a torch file")
    with pytest.warns(CacheWarning, match="corrupt"):
        value = cached("model", _Config(), lambda: {"x": torch.full((2,), 3.0)}, version="1")
    assert value["x"].tolist() == [3.0, 3.0]
    assert torch.load(path, weights_only=True)["value"]["x"].tolist() == [3.0, 3.0]


def test_stale_cache_entry_is_rebuilt_with_a_warning(tmp_cache):
    path = entry_path("model", _Config(), "1")
    path.parent.mkdir(parents=True)
    # An entry under the right name whose stored config disagrees (e.g. copied by hand).
    torch.save(
        {"meta": {"name": "model", "config": {"width": 99}, "version": "1"}, "value": 1}, path
    )
    with pytest.warns(CacheWarning, match="stale"):
        assert cached("model", _Config(), lambda: 2, version="1") == 2


def test_cache_refuses_values_it_could_not_load_safely(tmp_cache):
    with pytest.raises(TypeError, match="tensors"):
        cached("model", _Config(), lambda: {"array": np.zeros(3)}, version="1")
    assert _listing(tmp_cache) == []


def test_interrupted_write_leaves_no_entry_behind(tmp_cache, monkeypatch):
    def broken_save(obj, f):
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cached("model", _Config(), lambda: {"x": torch.zeros(1)}, version="1")
    assert _listing(tmp_cache) == []


def test_failed_build_writes_nothing(tmp_cache):
    def build():
        raise RuntimeError("training diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        cached("model", _Config(), build, version="1")
    assert _listing(tmp_cache) == []


def test_cache_entry_name_is_validated(tmp_cache):
    with pytest.raises(ValueError, match="entry name"):
        cached("../escape", _Config(), lambda: 1, version="1")


def test_cache_load_uses_weights_only(tmp_cache, monkeypatch):
    cached("model", _Config(), lambda: {"x": torch.zeros(1)}, version="1")
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    cached("model", _Config(), lambda: {"x": torch.zeros(1)}, version="1")
    assert seen.get("weights_only") is True


# ------------------------------------------------------------------ presets


def test_choose_preset_names_the_choices():
    presets = {"quick": 1, "paper": 2}
    assert choose_preset(presets, "paper") == 2
    with pytest.raises(ValueError, match="quick, paper"):
        choose_preset(presets, "fast")


# ------------------------------------------------------------------ metrics


def _notebook_with(outputs: list[dict]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells.append(cell)
    return nb


def test_record_metric_outside_ipython_prints(capsys):
    record_metric("accuracy", np.float32(0.5))
    assert capsys.readouterr().out.strip() == "accuracy = 0.5"


def test_record_metric_in_a_kernel_is_read_back(tmp_path):
    """Runs a real kernel: what record_metric displays is what read_metrics finds."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import torch\nfrom causalkit.core import record_metric\n"
            "record_metric('acc', torch.tensor(0.75))\nrecord_metric('n', 12)"
        )
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    path = tmp_path / "out.ipynb"
    nbformat.write(nb, path)
    assert read_metrics(path) == {"acc": 0.75, "n": 12.0}
    texts = [o["data"]["text/plain"] for o in nb.cells[0].outputs]
    assert texts == ["acc = 0.75", "n = 12"]


def test_read_metrics_ignores_other_outputs_and_later_value_wins():
    nb = _notebook_with(
        [
            {"output_type": "stream", "name": "stdout", "text": "hello"},
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {METRIC_MIMETYPE: {"name": "a", "value": 1.0}, "text/plain": "a = 1"},
            },
            {
                "output_type": "display_data",
                "metadata": {},
                "data": {METRIC_MIMETYPE: {"name": "a", "value": 2.0}, "text/plain": "a = 2"},
            },
        ]
    )
    assert read_metrics(nb) == {"a": 2.0}


def test_read_metrics_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no executed notebook"):
        read_metrics(tmp_path / "nope.ipynb")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("has space", 1.0, "identifier"),
        ("ok", float("nan"), "finite"),
        ("ok", float("inf"), "finite"),
        ("ok", "0.9", "real number"),
        ("ok", True, "real number"),
        ("ok", torch.ones(2), "real number"),
    ],
)
def test_record_metric_rejects_bad_input(name, value, message):
    with pytest.raises(ValueError, match=message):
        record_metric(name, value)


# ------------------------------------------------------------------ progress, source, png


def test_progress_can_be_silenced(monkeypatch):
    monkeypatch.setenv("CAUSALKIT_PROGRESS", "0")
    assert progress(range(3)).disable
    monkeypatch.setenv("CAUSALKIT_PROGRESS", "1")
    bar = progress(range(3))
    assert not bar.disable and list(bar) == [0, 1, 2]


def test_source_markdown_shows_package_code():
    text = source_markdown(cache_key)
    assert text.startswith("`causalkit.core.cache.cache_key`")
    assert "def cache_key(" in text and text.rstrip().endswith("```")


def test_source_markdown_refuses_foreign_code():
    with pytest.raises(ValueError, match="causalkit's own code"):
        source_markdown(json.dumps)


def test_cache_dir_default_is_data_cache(monkeypatch):
    monkeypatch.delenv("CAUSALKIT_CACHE", raising=False)
    assert cache_dir() == Path(__file__).resolve().parents[1] / "data_cache"
    assert os.path.basename(cache_dir()) == "data_cache"


# ------------------------------------------------------------------ validate


def test_is_int_refuses_bools_and_floats_and_accepts_numpy_integers():
    from causalkit.core.validate import is_int, is_number

    assert is_int(3) and is_int(np.int64(3)) and is_int(0, 0)
    assert not is_int(True) and not is_int(3.0) and not is_int("3") and not is_int(0, 1)
    assert is_number(0.5) and is_number(np.float32(0.5)) and is_number(2)
    assert not is_number(False) and not is_number("0.5") and not is_number(None)


@pytest.mark.parametrize(
    ("value", "low", "high", "message"),
    [
        (1.5, 0, None, r"n must be an integer, got 1\.5"),
        (True, 0, None, "n must be an integer, got True"),
        (-1, 0, None, "n must be >= 0, got -1"),
        (10, 0, 10, "n must be >= 0 and < 10, got 10"),
    ],
)
def test_check_int_names_the_argument_and_its_bounds(value, low, high, message):
    from causalkit.core.validate import check_int

    with pytest.raises(ValueError, match=message):
        check_int("n", value, low, high)


def test_check_int_returns_a_plain_int_and_the_other_checks_their_values():
    from causalkit.core.validate import check_int, check_non_negative, check_positive_int

    got = check_int("n", np.int32(9), 0, 10)
    assert got == 9 and type(got) is int
    assert check_positive_int("k", 4) == 4
    assert check_non_negative("beta", 0) == 0.0
    with pytest.raises(ValueError, match="k must be a positive int, got 0"):
        check_positive_int("k", 0)
    for bad in (-0.1, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="beta must be a finite number ≥ 0"):
            check_non_negative("beta", bad)


# ------------------------------------------------------------------ classifier


def test_fit_classifier_refuses_an_empty_image_set():
    from causalkit.core.classifier import fit_classifier, small_cnn

    net = small_cnn(side=8, width=2)
    with pytest.raises(ValueError, match="images is empty"):
        fit_classifier(net, torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))


# ------------------------------------------------------------------ cache faults


def _flip_first_data_byte(path: Path) -> None:
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    raw[info.header_offset + 30 + name_len + extra_len] ^= 0x40
    path.write_bytes(bytes(raw))


def test_a_flipped_bit_is_caught_by_the_crc_and_rebuilt(tmp_cache):
    cached("model", _Config(), lambda: {"x": torch.arange(4.0)}, version="1")
    path = entry_path("model", _Config(), "1")
    _flip_first_data_byte(path)
    assert torch.load(path, weights_only=True)["value"]["x"][0] != 0  # torch alone is fooled
    with pytest.warns(CacheWarning, match="corrupt.*CRC"):
        value = cached("model", _Config(), lambda: {"x": torch.arange(4.0)}, version="1")
    assert value["x"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_an_unwritable_cache_keeps_the_built_value(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("CAUSALKIT_CACHE", str(blocker / "cache"))
    with pytest.warns(CacheWarning, match="not writable"):
        assert cached("model", _Config(), lambda: {"x": torch.ones(1)}, version="1")["x"] == 1


def test_a_failed_write_keeps_the_built_value(tmp_cache, monkeypatch):
    from causalkit.core import cache as cache_module

    def full_disk(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module, "_write_atomically", full_disk)
    with pytest.warns(CacheWarning, match="No space left"):
        assert cached("model", _Config(), lambda: 7, version="1") == 7


def test_orphaned_temporary_files_are_removed(tmp_cache):
    tmp_cache.mkdir()
    old, fresh = tmp_cache / ".model-x.pt.abc.tmp", tmp_cache / ".model-y.pt.def.tmp"
    old.write_bytes(b"killed mid-write")
    fresh.write_bytes(b"being written now")
    os.utime(old, (0, 0))
    cached("model", _Config(), lambda: 1, version="1")
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_entries_honour_the_umask(tmp_cache, umask, mode):
    previous = os.umask(umask)
    try:
        cached("model", _Config(), lambda: 1, version="1")
    finally:
        os.umask(previous)
    assert entry_path("model", _Config(), "1").stat().st_mode & 0o777 == mode


def _build_slowly_in_another_process(root: str, log: str) -> None:
    os.environ["CAUSALKIT_CACHE"] = root

    def build():
        with open(log, "a") as f:
            f.write("built\n")
        time.sleep(1.0)
        return {"x": torch.ones(1)}

    cached("shared", {"k": 1}, build, version="1")


def test_two_processes_build_one_key_once(tmp_cache):
    import multiprocessing

    log = tmp_cache.parent / "builds.log"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_build_slowly_in_another_process, args=(str(tmp_cache), str(log)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert log.read_text() == "built\n"


def test_source_version_follows_the_code(tmp_path, monkeypatch):
    package = tmp_path / "toy_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("LR = 0.1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = source_version("toy_pkg")
    assert source_version("toy_pkg") == before
    (package / "train.py").write_text("LR = 0.2\n")
    assert source_version("toy_pkg") != before
    with pytest.raises(ValueError, match="no module"):
        source_version("toy_pkg_missing")


def test_cache_entries_are_listed_and_cleared_by_name(tmp_cache):
    cached("alpha", {"k": 1}, lambda: 1, version="1")
    cached("alpha", {"k": 2}, lambda: 2, version="1")
    cached("beta", {"k": 1}, lambda: 3, version="1")
    assert [e.name for e in cache_entries()] == ["alpha", "alpha", "beta"]
    assert [e.name for e in clear_cache("alpha")] == ["alpha", "alpha"]
    assert [e.name for e in cache_entries()] == ["beta"]
    clear_cache()
    assert cache_entries() == []
