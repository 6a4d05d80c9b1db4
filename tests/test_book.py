"""The course site's parts that need no build: which executed copies it reuses, and what a
page keeps of an executed notebook. The built site is checked in Chromium by
``tests/browser/test_site.py``."""

from __future__ import annotations

import nbformat
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from causalkit.book import LIVE_NOTE, PLOTLY_MIME, find_executed, is_current, page_notebook
from causalkit.cli import main
from causalkit.course.editions import STUB
from causalkit.notebooks import NOTEBOOKS, notebook_path, read_notebook
from causalkit.runner import plan_run

WIDGET = {"application/vnd.jupyter.widget-view+json": {"model_id": "m", "version_major": 2}}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _executed_tour(**papermill) -> nbformat.NotebookNode:
    """The committed tour as papermill would leave it after a quick run (outputs aside)."""
    notebook = read_notebook(notebook_path(NOTEBOOKS["tour"]))
    notebook.metadata["papermill"] = {
        "parameters": plan_run("tour").parameters,
        "end_time": "2026-12-07T18:00:00+00:00",
        "exception": None,
        **papermill,
    }
    injected = nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(1, injected)
    return notebook


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALKIT_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_a_current_executed_copy_is_found_anywhere_under_runs(runs):
    path = runs / "regression" / "00_tour.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(_executed_tour(), path)
    assert is_current("tour", path)
    assert find_executed("tour") == path
    assert find_executed("ncc") is None


@pytest.mark.parametrize(
    "why",
    ["code changed", "other parameters", "stopped", "failed", "student edition", "not a notebook"],
)
def test_a_stale_or_unfinished_copy_is_not_reused(runs, why):
    notebook = _executed_tour()
    if why == "code changed":
        code = next(c for c in notebook.cells if c.cell_type == "code" and "import" in c.source)
        code.source += "\nprint('changed')"
    elif why == "other parameters":
        notebook.metadata.papermill.parameters = {**plan_run("tour").parameters, "seed": 1}
    elif why == "stopped":
        notebook.metadata.papermill.end_time = None
    elif why == "failed":
        notebook.metadata.papermill.exception = True
    elif why == "student edition":
        notebook.metadata["causalkit"] = {"notebook": "tour", "edition": "student"}
    path = runs / "00_tour-quick-seed0.ipynb"
    path.parent.mkdir(parents=True)
    if why == "not a notebook":
        path.write_text("{")
    else:
        nbformat.write(notebook, path)
    assert not is_current("tour", path)
    assert find_executed("tour") is None


def test_book_without_execution_names_the_notebooks_it_lacks(runs, capsys):
    assert main(["book", "--names", "tour,cfl", "--no-execute"]) == 2
    assert "no current executed copy of tour, cfl" in capsys.readouterr().err


def _cell(source, outputs=(), tags=()):
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)})
    if "exercise" in tags:
        cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "x-1"}
    cell.outputs = [nbformat.v4.new_output("display_data", data=d) for d in outputs]
    return cell


def test_a_page_keeps_the_figures_offline_and_drops_answers_and_grading(tmp_path):
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    renderer_html = pio.to_html(figure, full_html=False, include_mathjax="cdn")
    answer = "def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION"
    notebook = nbformat.v4.new_notebook(
        cells=[
            _cell("import plotly", [{"text/html": "<script>window.PlotlyConfig = {};</script>"}]),
            _cell("fig", [{PLOTLY_MIME: figure.to_plotly_json(), "text/html": renderer_html}]),
            _cell("record()", [{"application/vnd.causalkit.metric+json": {}, "text/plain": "1"}]),
            _cell("panel", [WIDGET]),
            _cell("check", [WIDGET], tags=["self-check"]),
            _cell(answer, [{"text/plain": "42"}], tags=["exercise"]),
            _cell("print('worked answer')", tags=["solution"]),
            _cell("grade_exercise('tour', 1, globals())", tags=["grading"]),
        ]
    )
    models = {
        "image": {"model_module": "@jupyter-widgets/controls", "state": {}},
        "pointer": {"model_module": "ipyevents", "state": {"source": "IPY_MODEL_image"}},
    }
    notebook.metadata["widgets"] = {WIDGET_STATE: {"state": models, "version_major": 2}}
    nbformat.write(notebook, tmp_path / "executed.ipynb")
    page = page_notebook(tmp_path / "executed.ipynb")

    sources = [cell.source for cell in page.cells]
    assert not any(
        "grade_exercise" in s or "worked answer" in s or "return 42" in s for s in sources
    )
    bundle, figure_cell, metric, panel, check, exercise = page.cells
    assert bundle.outputs == []  # the renderer's inline plotly.js: the site loads its own
    (shown,) = figure_cell.outputs
    assert set(shown.data) == {"text/html"}
    html = shown.data["text/html"]
    assert "plotly-graph-div" in html and "Plotly.newPlot" in html
    assert "http" not in html.replace("http://www.w3.org", "")  # no CDN, no MathJax
    assert set(metric.outputs[0].data) == {"text/plain"}
    assert panel.outputs[-1].data["text/markdown"] == LIVE_NOTE
    assert all("text/markdown" not in o.data for o in check.outputs)
    assert STUB.splitlines()[-1] in exercise.source and exercise.outputs == []
    assert list(page.metadata.widgets[WIDGET_STATE]["state"]) == ["image"]  # no ipyevents
