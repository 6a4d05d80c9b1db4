"""Recording a notebook's headline numbers so they can be read back headless.

A notebook calls :func:`record_metric`; the number is shown to the reader as
plain text and, alongside, stored in the cell's output under a causalkit MIME
type. After papermill has run the notebook, :func:`read_metrics` collects every
recorded number from the output notebook: tests assert on them and
``python -m causalkit run`` prints them.
"""

from __future__ import annotations

import math
import numbers
import re
from pathlib import Path
from typing import Any

import nbformat

METRIC_MIMETYPE = "application/vnd.causalkit.metric+json"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _as_finite_float(name: str, value: Any) -> float:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()  # 0-d tensors and NumPy scalars
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"metric {name!r} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"metric {name!r} is {value}; a recorded metric must be finite")
    return value


def record_metric(name: str, value: Any) -> None:
    """Show ``name = value`` and store it in the output for :func:`read_metrics`.

    ``value`` must be a finite real number (Python, NumPy or 0-d tensor). Nothing
    is returned, so a call at the end of a cell shows the metric once, not twice.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"metric name must be a Python identifier, got {name!r}")
    value = _as_finite_float(name, value)
    text = f"{name} = {value:.6g}"
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is not None:
        display({METRIC_MIMETYPE: {"name": name, "value": value}, "text/plain": text}, raw=True)
    else:
        print(text)


def read_metrics(notebook: str | Path | nbformat.NotebookNode) -> dict[str, float]:
    """All metrics recorded in an executed notebook, in order; a later value of a name wins."""
    if not isinstance(notebook, nbformat.NotebookNode):
        path = Path(notebook)
        if not path.is_file():
            raise FileNotFoundError(f"no executed notebook at {path}")
        notebook = nbformat.read(path, as_version=4)
    metrics: dict[str, float] = {}
    for cell in notebook.cells:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(METRIC_MIMETYPE)
            if payload is not None:
                metrics[payload["name"]] = float(payload["value"])
    return metrics
