"""Notebook regression: every notebook runs headless with its quick preset.

The recorded metrics are asserted against the bounds each notebook declares in
``causalkit.notebooks.NOTEBOOKS``. These tests train into the shared cache
(``data_cache/``) so the widget and browser tests after them reuse the models.
"""

from __future__ import annotations

import pytest

from causalkit.notebooks import NOTEBOOKS
from causalkit.runner import run_notebook

pytestmark = pytest.mark.notebook


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_quick_preset_meets_its_declared_metrics(name, tmp_path):
    spec = NOTEBOOKS[name]
    result = run_notebook(name, "quick", output=tmp_path / spec.filename)
    missing = (set(spec.expect) | set(spec.paper)) - set(result.metrics)
    assert not missing, f"{name} did not record {sorted(missing)}"
    for metric, (low, high) in spec.expect.items():
        value = result.metrics[metric]
        assert low is None or value >= low, f"{name}: {metric} = {value} < {low}"
        assert high is None or value <= high, f"{name}: {metric} = {value} > {high}"


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
