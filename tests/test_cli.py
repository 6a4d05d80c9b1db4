"""``python -m causalkit``: list, run, bench, strip; bad input fails before a kernel starts."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest

from causalkit import cli
from causalkit.notebooks import NOTEBOOKS, NotebookSpec
from causalkit.runner import NotebookFailed, default_output, parse_assignments, run_notebook


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail loudly if anything tries to execute a notebook."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started for input that should have been rejected")

    monkeypatch.setattr(papermill, "execute_notebook", refuse)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nope"], "unknown notebook 'nope'; choose one of tour"),
        (["run", "tour", "--preset", "huge"], "no preset 'huge'; choose one of quick, paper"),
        (
            ["run", "tour", "-p", "epochs=3"],
            "no parameter 'epochs'; its parameters are preset, seed",
        ),
        (
            ["run", "tour", "-p", "seed=zero"],
            "parameter 'seed' of 'tour' takes a value of type int",
        ),
        (["run", "tour", "-p", "seed"], "not of the form key=value"),
        (["run", "tour", "-p", "preset=paper"], "set the preset with --preset"),
        (["run", "nope", "--out", "somewhere"], "unknown notebook 'nope'"),
    ],
)
def test_bad_run_input_is_a_clear_error_before_any_kernel(no_kernel, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_parse_assignments_reads_python_literals():
    assert parse_assignments(["seed=3", "rate=0.5", "name=abc", "flag=True", "s='x y'"]) == {
        "seed": 3,
        "rate": 0.5,
        "name": "abc",
        "flag": True,
        "s": "x y",
    }


def test_list_shows_every_notebook(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for spec in NOTEBOOKS.values():
        assert spec.name in out and spec.filename in out
    assert "preset, seed" in out


def _register(tmp_path, monkeypatch, name: str, body: str, second: str | None = None) -> Path:
    """A registered notebook ``name``: parameters, a metric (or ``second``), then ``body``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "quick"\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            second or "from causalkit.core import record_metric\nrecord_metric('x', 1)"
        ),
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / f"{name}.ipynb")
    monkeypatch.setenv("CAUSALKIT_NOTEBOOKS", str(tmp_path))
    spec = NotebookSpec(name, f"{name}.ipynb", "a test notebook", "causalkit.tour")
    monkeypatch.setitem(NOTEBOOKS, name, spec)
    return tmp_path


@pytest.fixture
def failing_notebook(tmp_path, monkeypatch):
    """A registered notebook whose third cell raises."""
    return _register(tmp_path, monkeypatch, "boom", "1 / 0")


def test_failing_cell_gives_nonzero_exit_naming_the_cell(failing_notebook, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert cli.main(["run", "boom", "--out", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "failed in cell" in err and "ZeroDivisionError" in err
    # The executed notebook is kept for inspection, the error in it.
    assert (out_dir / "boom-quick-seed0.ipynb").is_file()


def test_failing_cell_index_points_at_the_raising_cell(failing_notebook, tmp_path):
    with pytest.raises(NotebookFailed) as info:
        run_notebook("boom", output=tmp_path / "out.ipynb")
    source = nbformat.read(failing_notebook / "boom.ipynb", as_version=4)
    assert source.cells[info.value.cell_index].source == "1 / 0"
    assert "cell 3 of boom.ipynb ('1 / 0')" in str(info.value)


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "causalkit", "list"], capture_output=True, text=True, check=True
    )
    assert "tour" in out.stdout


def test_format_table_aligns_columns():
    table = cli.format_table(["a", "long header"], [["x", 1], ["yyyy", 22]])
    lines = table.splitlines()
    assert lines[0] == "a     long header"
    assert lines[1] == "----  -----------"
    assert lines[3] == "yyyy  22"


# ------------------------------------------------------------------ faults a run exists for


def test_a_cell_past_its_timeout_names_the_cell(tmp_path, monkeypatch, capsys):
    # The cell before is instant (importing causalkit, hence torch, can take seconds).
    _register(tmp_path, monkeypatch, "slow", "import time\ntime.sleep(60)", second="x = 1")
    argv = ["run", "slow", "--cell-timeout", "3", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "ran past --cell-timeout 3 s in cell 3 of slow.ipynb" in err
    assert "executed notebook kept at" in err and "Traceback" not in err


def test_a_dead_kernel_names_the_cell(tmp_path, monkeypatch, capsys):
    _register(
        tmp_path, monkeypatch, "oom", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    assert cli.main(["run", "oom", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "lost its kernel" in err and "cell 3 of oom.ipynb" in err


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "nan", "inf", "abc"])
def test_cell_timeout_must_be_whole_positive_seconds(no_kernel, capsys, value):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "tour", "--cell-timeout", value])
    assert exit_info.value.code == 2
    assert "whole number of seconds" in capsys.readouterr().err


def test_execute_refuses_a_bad_cell_timeout_too(no_kernel, tmp_path):
    for value in (0, -1, 1.5, math.nan, True):
        with pytest.raises(ValueError, match="cell_timeout"):
            run_notebook("tour", output=tmp_path / "x.ipynb", cell_timeout=value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "tour", "-p", "seed=-1"], "'seed' of 'tour' must be in [0, 4294967295], got -1"),
        (["run", "tour", "-p", "seed=True"], "takes a value of type int"),
        (["run", "tour", "-p", f"seed={2**64}"], "must be in [0, 4294967295]"),
        (["run", "icm", "-p", "summary_seeds=0"], "'summary_seeds' of 'icm' must be in [1, 10]"),
        (["run", "icm", "-p", "summary_seeds=1000000"], "must be in [1, 10]"),
        (["run", "semvae", "-p", "summary_seeds=0"], "must be in [1, 10]"),
    ],
)
def test_parameters_are_range_checked_before_any_kernel(no_kernel, capsys, argv, message):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_every_numeric_parameter_has_a_declared_range():
    from causalkit.runner import notebook_parameters, parameter_ranges

    for spec in NOTEBOOKS.values():
        for key, default in notebook_parameters(spec).items():
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                low, high = parameter_ranges(spec)[key]
                assert low <= default <= high, (spec.name, key)


# ------------------------------------------------------------------ outputs never clobber


def test_run_never_overwrites_an_earlier_run_without_force(no_kernel, tmp_path, capsys):
    earlier = tmp_path / "00_tour-quick-seed0.ipynb"
    earlier.write_text("an earlier run")
    assert cli.main(["run", "tour", "--out", str(tmp_path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert earlier.read_text() == "an earlier run"


def test_an_earlier_run_in_runs_does_not_block_another_out_dir(
    failing_notebook, tmp_path, monkeypatch, capsys
):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "boom-quick-seed0.ipynb").write_text("an earlier run")
    monkeypatch.setenv("CAUSALKIT_RUNS", str(runs))
    assert cli.main(["run", "boom", "--out", str(tmp_path / "out")]) == 1  # ran, then failed
    assert "ZeroDivisionError" in capsys.readouterr().err
    assert (runs / "boom-quick-seed0.ipynb").read_text() == "an earlier run"


def test_force_replaces_an_earlier_run(failing_notebook, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "boom-quick-seed0.ipynb").write_text("an earlier run")
    assert cli.main(["run", "boom", "--out", str(out), "--force"]) == 1  # ran, then failed
    assert "ZeroDivisionError" in capsys.readouterr().err


def test_run_never_writes_over_its_source_notebook(failing_notebook, monkeypatch, tmp_path):
    from causalkit.runner import plan_run

    plan = plan_run("boom")
    with pytest.raises(ValueError, match="is the input"):
        run_notebook("boom", output=plan.source, force=True)
    assert nbformat.read(plan.source, as_version=4).cells[2].source == "1 / 0"


def test_runs_that_differ_in_any_parameter_get_their_own_file():
    spec = NOTEBOOKS["icm"]
    one = default_output(spec, {"preset": "quick", "seed": 0, "summary_seeds": 1})
    five = default_output(spec, {"preset": "quick", "seed": 0, "summary_seeds": 5})
    plain = default_output(spec, {"preset": "quick", "seed": 0})
    assert len({one, five, plain}) == 3
    assert five.name == "03_icm-quick-seed0-summary_seeds5.ipynb"


@pytest.mark.parametrize("kind", ["directory", "under_a_file", "existing"])
def test_json_path_is_checked_before_the_run(no_kernel, tmp_path, capsys, kind):
    target = {
        "directory": tmp_path,
        "under_a_file": tmp_path / "a_file" / "m.json",
        "existing": tmp_path / "m.json",
    }[kind]
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "m.json").write_text("{}")
    argv = ["run", "tour", "--out", str(tmp_path / "out"), "--json", str(target)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"--json {str(target)!r}" in err
    assert not list(tmp_path.glob(".*.tmp"))


# ------------------------------------------------------------------ strip and cache


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": 1}', "not a Jupyter notebook (no nbformat version)"),
        ("plain text", "not a Jupyter notebook (not JSON text"),
        ('{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}', "nbformat 3 notebook"),
    ],
)
def test_strip_refuses_what_is_not_a_notebook(tmp_path, capsys, content, message):
    path = tmp_path / "x.ipynb"
    path.write_text(content)
    assert cli.main(["strip", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert path.read_text() == content


def test_strip_refuses_a_directory(tmp_path, capsys):
    assert cli.main(["strip", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_strip_rewrites_atomically(failing_notebook, monkeypatch):
    path = failing_notebook / "boom.ipynb"
    before = path.read_text()

    def interrupted(notebook, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nbformat, "writes", interrupted)
    assert cli.main(["strip", str(path)]) == 130  # Ctrl-C: "interrupted", the shell's code
    assert path.read_text() == before
    assert not list(failing_notebook.glob(".*.tmp"))


def test_cache_list_and_clear(tmp_cache, capsys):
    from causalkit.core import cached

    cached("alpha", {"k": 1}, lambda: 1, version="1")
    cached("beta", {"k": 1}, lambda: 2, version="1")
    assert cli.main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "alpha" in out and "beta" in out and "2 files" in out
    assert cli.main(["cache", "clear", "alpha"]) == 0
    assert "removed 1 entries called 'alpha'" in capsys.readouterr().out
    assert cli.main(["cache", "list"]) == 0
    out = capsys.readouterr().out
    assert "alpha" not in out and "beta" in out


@pytest.mark.parametrize(
    ("errors", "calls", "raised"),
    [
        (["Kernel died before replying to kernel_info"] * 2, 3, None),  # the third start works
        (["Kernel died before replying to kernel_info"] * 3, 3, "Kernel died"),  # gives up
        (["a cell raised"], 1, "a cell raised"),  # a notebook's own error is not retried
    ],
)
def test_a_kernel_that_fails_to_start_is_started_again(monkeypatch, errors, calls, raised):
    """Two kernels started at once (two xdist workers, two Dask workers) can race for a port;
    the run starts its kernel again instead of failing."""
    from causalkit import runner

    monkeypatch.setattr(runner.time, "sleep", lambda seconds: None)
    made = []

    def execute_notebook(*args, **kwargs):
        made.append(args)
        if len(made) <= len(errors):
            raise RuntimeError(errors[len(made) - 1])

    if raised:
        with pytest.raises(RuntimeError, match=raised):
            runner._execute_with_a_kernel(execute_notebook, "a.ipynb")
    else:
        runner._execute_with_a_kernel(execute_notebook, "a.ipynb")
    assert len(made) == calls
