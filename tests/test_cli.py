"""``python -m causalkit``: list, run, bench, strip; bad input fails before a kernel starts."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import papermill
import pytest

from causalkit import cli
from causalkit.notebooks import NOTEBOOKS, NotebookSpec
from causalkit.runner import NotebookFailed, parse_assignments, run_notebook


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


@pytest.fixture
def failing_notebook(tmp_path, monkeypatch):
    """A registered notebook whose third cell raises."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "quick"\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "from causalkit.core import record_metric\nrecord_metric('x', 1)"
        ),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "boom.ipynb")
    monkeypatch.setenv("CAUSALKIT_NOTEBOOKS", str(tmp_path))
    monkeypatch.setitem(
        NOTEBOOKS, "boom", NotebookSpec("boom", "boom.ipynb", "fails on purpose", "causalkit.tour")
    )
    return tmp_path


def test_failing_cell_gives_nonzero_exit_naming_the_cell(failing_notebook, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert cli.main(["run", "boom", "--out", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "failed in cell" in err and "ZeroDivisionError" in err
    # The executed notebook is kept for inspection, the error in it.
    assert (out_dir / "boom.ipynb").is_file()


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
