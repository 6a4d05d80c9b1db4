"""Notebook regression: every notebook runs headless with its quick preset, graded.

The instructor edition runs with its grading cells: the recorded metrics are asserted
against the bounds each notebook declares in ``causalkit.notebooks.NOTEBOOKS``, and the
reference answers must earn full marks (one run checks both, so the course costs CI no
second training). The student edition then scores 0. These tests train into the shared
cache (``data_cache/``) so the widget and browser tests after them reuse the models.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from causalkit.app import app_notebook, available_apps
from causalkit.core.files import write_atomically
from causalkit.core.settings import get_settings
from causalkit.course import checks_for, make_edition
from causalkit.course.grading import grade_notebook
from causalkit.notebooks import NOTEBOOKS
from causalkit.runner import run_notebook

pytestmark = pytest.mark.notebook


# The instructor run trains the paper's quick models and then runs every reference answer's
# checks in the same kernel: CGN's took about 2,800 s at one thread on a busy 2-core CPU.
@pytest.mark.timeout(7200)
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_quick_preset_meets_its_declared_metrics(name, tmp_path):
    spec = NOTEBOOKS[name]
    edition, *_ = make_edition("instructor", tmp_path / "instructor", [name])
    report = grade_notebook(edition, tmp_path / spec.filename)
    wrong = [f"{s.number}. {s.title}: {s.message}" for s in report.scores if not s.passed]
    assert report.scores and not wrong, f"{name}'s reference answers fail:\n" + "\n".join(wrong)
    assert len(report.scores) == len(checks_for(name))
    missing = (set(spec.expect) | set(spec.paper)) - set(report.metrics)
    assert not missing, f"{name} did not record {sorted(missing)}"
    figures = [
        output.get("data", {})
        for cell in nbformat.read(report.executed, as_version=4).cells
        for output in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in output.get("data", {})
    ]
    assert all("text/html" in data for data in figures), "a plotly figure lost its HTML"
    for metric, (low, high) in spec.expect.items():
        value = report.metrics[metric]
        assert low is None or value >= low, f"{name}: {metric} = {value} < {low}"
        assert high is None or value <= high, f"{name}: {metric} = {value} > {high}"
    # The site's build (make book, tests/browser/test_site.py) reuses this run.
    write_atomically(
        get_settings().runs / "regression" / spec.filename, report.executed.read_bytes()
    )


@pytest.mark.timeout(7200)
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_student_edition_scores_zero(name, tmp_path):
    """After the instructor run the models are cached: this run re-reads them, and every stub
    scores 0 with a message that says it was not answered."""
    edition, *_ = make_edition("student", tmp_path / "student", [name])
    report = grade_notebook(edition, tmp_path / "graded.ipynb")
    assert report.metrics, "the student edition should run to its end"
    assert [s.number for s in report.scores] == [c.number for c in checks_for(name)]
    assert report.earned == 0
    assert all(s.message.startswith("not answered") for s in report.scores), report.scores


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n in available_apps()])
def test_app_shows_its_panel(name):
    """Each Voilà app (make app NB=…) runs on the quick models its notebook just trained and
    ends with a widget; the CGN app is also served and driven in a browser."""
    notebook = nbformat.read(app_notebook(name), as_version=4)
    NotebookClient(
        notebook, timeout=600, resources={"metadata": {"path": str(app_notebook(name).parent)}}
    ).execute()
    last = notebook.cells[-1].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in last)


def test_same_seed_gives_same_metrics_on_cpu(tmp_path, monkeypatch):
    """Two runs, each training from scratch in its own empty cache, agree exactly."""
    monkeypatch.setenv("CAUSALKIT_DEVICE", "cpu")
    runs = []
    for attempt in range(2):
        monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / f"cache{attempt}"))
        out = tmp_path / f"run{attempt}.ipynb"
        runs.append(run_notebook("tour", "quick", {"seed": 1}, output=out).metrics)
    assert runs[0] == runs[1]
    assert (
        runs[0] != run_notebook("tour", "quick", {"seed": 2}, output=tmp_path / "s2.ipynb").metrics
    )
