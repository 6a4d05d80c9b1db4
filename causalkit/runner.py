"""Running a notebook headless with papermill and reading back what it recorded.

Everything a user can get wrong (notebook name, preset, parameter name or type)
is checked before a kernel starts, so a typo costs milliseconds, not a run.
"""

from __future__ import annotations

import ast
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from causalkit.core.files import check_output
from causalkit.core.metrics import read_metrics
from causalkit.core.settings import get_settings
from causalkit.core.validate import check_int
from causalkit.notebooks import NotebookSpec, get_spec, notebook_path

KERNEL_START_TRIES = 3  # kernels started at once (xdist workers, Dask) can race for a port
DEFAULT_CELL_TIMEOUT = 1800  # seconds; a paper-scale training cell may take this long on a CPU
REQUIRED_PARAMETERS = ("preset", "seed")
# Every notebook's seed; a notebook declares the ranges of its other numeric parameters.
SEED_RANGE = (0, 2**32 - 1)


class NotebookFailed(RuntimeError):
    """A notebook cell raised; ``cell_index`` is its 0-based index in the source notebook."""

    def __init__(self, message: str, cell_index: int, output: Path) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.output = output

    def __reduce__(self):  # so a Dask worker can send it back whole
        return type(self), (str(self), self.cell_index, self.output)


@dataclass(frozen=True)
class RunResult:
    name: str
    preset: str
    parameters: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    output: Path

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "preset": self.preset,
            "parameters": self.parameters,
            "seconds": round(self.seconds, 3),
            "output": str(self.output),
            "metrics": self.metrics,
        }


def notebook_parameters(spec: NotebookSpec, source: Path | None = None) -> dict[str, Any]:
    """The parameters cell's names and default values, read without starting a kernel."""
    import papermill

    declared = papermill.inspect_notebook(str(source or notebook_path(spec)))
    if not declared:
        raise ValueError(f"notebook {spec.filename} has no cell tagged 'parameters'")
    defaults = {}
    for name, info in declared.items():
        try:
            defaults[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            defaults[name] = info["default"]
    missing = [p for p in REQUIRED_PARAMETERS if p not in defaults]
    if missing:
        raise ValueError(f"notebook {spec.filename}'s parameters cell lacks {', '.join(missing)}")
    return defaults


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["seed=3", "lr=0.1"]`` -> ``{"seed": 3, "lr": 0.1}``; values are Python literals."""
    parsed: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"parameter {item!r} is not of the form key=value")
        try:
            parsed[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            parsed[key] = raw.strip()  # a bare word is a string
    return parsed


def check_parameters(
    spec: NotebookSpec, preset: str, overrides: dict[str, Any], source: Path | None = None
) -> dict[str, Any]:
    """Check a preset and parameter overrides against the notebook; return papermill's dict."""
    if preset not in spec.presets:
        known = ", ".join(spec.presets)
        raise ValueError(f"notebook {spec.name!r} has no preset {preset!r}; choose one of {known}")
    defaults = notebook_parameters(spec, source)
    if "preset" in overrides:
        raise ValueError("set the preset with --preset, not as a parameter")
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in defaults:
            raise ValueError(
                f"notebook {spec.name!r} has no parameter {key!r}; its parameters are "
                f"{', '.join(defaults)}"
            )
        expected = type(defaults[key])
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # "-p rate=1" means 1.0
        wrong_type = defaults[key] is not None and not isinstance(value, expected)
        if wrong_type or (isinstance(value, bool) and expected is not bool):
            raise ValueError(
                f"parameter {key!r} of {spec.name!r} takes a value of type {expected.__name__} "
                f"(default {defaults[key]!r}), got {value!r}"
            )
        checked[key] = _in_range(spec, key, value)
    return {"seed": defaults["seed"], **checked, "preset": preset}


def parameter_ranges(spec: NotebookSpec) -> dict[str, tuple[float, float]]:
    """The inclusive (low, high) of each numeric parameter: the seed's, then the notebook's."""
    return {"seed": SEED_RANGE, **spec.ranges}


def _in_range(spec: NotebookSpec, key: str, value: Any) -> Any:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return value
    if key not in parameter_ranges(spec):
        raise ValueError(f"notebook {spec.name!r} declares no range for parameter {key!r}")
    low, high = parameter_ranges(spec)[key]
    if not low <= value <= high:  # also refuses nan
        raise ValueError(
            f"parameter {key!r} of {spec.name!r} must be in [{low}, {high}], got {value!r}"
        )
    return value


@dataclass(frozen=True)
class RunPlan:
    """A notebook run checked before any kernel starts: the source and papermill's parameters."""

    spec: NotebookSpec
    source: Path
    parameters: dict[str, Any]


def plan_run(name: str, preset: str = "quick", overrides: dict[str, Any] | None = None) -> RunPlan:
    """Check a notebook name, preset and parameter overrides once, reading the notebook once."""
    spec = get_spec(name)
    source = notebook_path(spec)
    return RunPlan(spec, source, check_parameters(spec, preset, dict(overrides or {}), source))


def default_output(spec: NotebookSpec, parameters: dict[str, Any]) -> Path:
    """``runs/<notebook>-<preset>-seed<s>[-<name><value>…].ipynb``: every parameter in the name,
    so runs that differ in any parameter never share a file."""
    others = sorted((k, v) for k, v in parameters.items() if k not in ("preset", "seed"))
    parts = [Path(spec.filename).stem, parameters["preset"], f"seed{parameters.get('seed')}"]
    parts += [re.sub(r"[^A-Za-z0-9._]", "_", f"{k}{v}") for k, v in others]
    return get_settings().runs / ("-".join(parts) + ".ipynb")


def _last_started_cell(output: Path) -> int:
    """The executed notebook's index of the last cell papermill started (the one that hung)."""
    cells = nbformat.read(output, as_version=4).cells
    started = [i for i, c in enumerate(cells) if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else 0


def _source_cell_index(source: Path, executed_index: int) -> int:
    """Map papermill's cell index (which counts its injected-parameters cell) to the source's."""
    cells = nbformat.read(source, as_version=4).cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    return executed_index - 1 if tagged and executed_index > tagged[0] else executed_index


def kernel_failed_to_start(err: BaseException) -> bool:
    """Whether ``err`` is a kernel that never came up (two started at once can race for a
    port), as opposed to a notebook that failed."""
    text = f"{type(err).__name__}: {err}"
    return "Kernel died before replying" in text or "Address already in use" in text


def _execute_with_a_kernel(execute_notebook: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """``execute_notebook(*args, **kwargs)``, started again (up to ``KERNEL_START_TRIES``
    times, after a random pause) when its kernel fails to start."""
    for attempt in range(1, KERNEL_START_TRIES + 1):
        try:
            execute_notebook(*args, **kwargs)
            return
        except RuntimeError as err:
            if attempt == KERNEL_START_TRIES or not kernel_failed_to_start(err):
                raise
            time.sleep(random.uniform(0.5, 2.0))


def run_notebook(
    name: str,
    preset: str = "quick",
    parameters: dict[str, Any] | None = None,
    output: Path | None = None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    progress_bar: bool = False,
    force: bool = False,
) -> RunResult:
    """Execute notebook ``name`` with papermill and return the metrics it recorded.

    Raises ``ValueError`` for a bad name, preset, parameter or output path before any
    kernel starts (an existing output is replaced only with ``force``), and
    :class:`NotebookFailed` naming the cell if a cell raises, hangs past ``cell_timeout``
    seconds or kills its kernel.
    """
    plan = plan_run(name, preset, parameters)
    return execute(plan, output, cell_timeout, progress_bar, force)


def output_path(plan: RunPlan, output: Path | None = None, force: bool = False) -> Path:
    """Where the executed notebook goes, checked: never the source, never an earlier run
    unless ``force``."""
    target = Path(output) if output is not None else default_output(plan.spec, plan.parameters)
    return check_output(target, force=force, inputs=(plan.source,), what="executed notebook")


def execute(
    plan: RunPlan,
    output: Path | None = None,
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    progress_bar: bool = False,
    force: bool = False,
) -> RunResult:
    """Run a checked :class:`RunPlan` with papermill; see :func:`run_notebook`."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    spec, source, params = plan.spec, plan.source, plan.parameters
    # plotly 6 saves only its own MIME type, which static HTML (nbconvert, a book) drops; the
    # kernel inherits this, so each figure also carries its HTML with plotly.js inlined.
    os.environ.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook")
    preset = params["preset"]
    cell_timeout = check_int("cell_timeout", cell_timeout, 1)
    output = output_path(plan, output, force)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        _execute_with_a_kernel(
            papermill.execute_notebook,
            str(source),
            str(output),
            parameters=params,
            cwd=str(source.parent),
            execution_timeout=cell_timeout,
            progress_bar=progress_bar,
            kernel_name="python3",
        )
    except PapermillExecutionError as err:
        index = _source_cell_index(source, err.cell_index)
        first_line = (
            (err.source or "").strip().splitlines()[0] if (err.source or "").strip() else ""
        )
        raise NotebookFailed(
            f"notebook {spec.name!r} failed in cell {index + 1} of {source.name} "
            f"({first_line!r}): {err.ename}: {err.evalue}\n  executed notebook kept at {output}",
            cell_index=index,
            output=output,
        ) from None
    except (CellTimeoutError, DeadKernelError) as err:
        index = _source_cell_index(source, _last_started_cell(output))
        why = (
            f"ran past --cell-timeout {cell_timeout} s"
            if isinstance(err, CellTimeoutError)
            else "lost its kernel (out of memory?)"
        )
        raise NotebookFailed(
            f"notebook {spec.name!r} {why} in cell {index + 1} of {source.name}\n"
            f"  executed notebook kept at {output}",
            cell_index=index,
            output=output,
        ) from None
    seconds = time.perf_counter() - start
    return RunResult(spec.name, preset, params, read_metrics(output), seconds, output)
