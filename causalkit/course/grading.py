"""Grading: run a student's notebook headless, then check each exercise's function in its kernel.

``grade`` appends one grading cell per exercise to a copy of the notebook and runs it with
papermill at the quick preset, so the checks see exactly what the student's cells defined
(and reuse the models the notebook trained, from the cache). Each grading cell calls
:func:`grade_exercise`, which shows the score to a reader and stores it under a causalkit
MIME type for :func:`read_scores`.
"""

from __future__ import annotations

import tempfile
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat

from causalkit.core.files import check_output
from causalkit.course.checks import checks_for
from causalkit.notebooks import NOTEBOOKS, read_notebook
from causalkit.runner import NotebookFailed, RunPlan, check_parameters, execute

GRADE_MIMETYPE = "application/vnd.causalkit.grade+json"
GRADE_TAG = "grading"  # the cells grade appends; an edition never contains them
DEFAULT_GRADE_TIMEOUT = 3600  # seconds per cell: a check may train on a cold cache


@dataclass(frozen=True)
class Score:
    notebook: str
    number: int
    title: str
    points: int
    earned: int
    message: str

    @property
    def passed(self) -> bool:
        return self.earned == self.points


@dataclass(frozen=True)
class GradeReport:
    notebook: str
    path: Path  # the notebook graded
    scores: list[Score]
    metrics: dict[str, float]
    executed: Path | None  # the executed copy with its grading cells, when it ran

    @property
    def earned(self) -> int:
        return sum(s.earned for s in self.scores)

    @property
    def points(self) -> int:
        return sum(s.points for s in self.scores)


def _why(err: BaseException) -> str:
    if isinstance(err, NotImplementedError):
        return "not answered: the function still raises NotImplementedError"
    if isinstance(err, AssertionError):
        return f"wrong: {err}" if str(err) else "wrong: a check failed"
    frame = traceback.extract_tb(err.__traceback__)[-1]
    return f"raised {type(err).__name__}: {err} (line {frame.lineno} of {frame.filename})"


def grade_exercise(notebook: str, number: int, namespace: dict[str, Any]) -> Score:
    """Check exercise ``number`` of ``notebook`` against the function in ``namespace``; show
    and record the score. Never raises for a wrong answer: grading goes on to the next."""
    from IPython import get_ipython
    from IPython.display import display

    found = {c.number: c for c in checks_for(notebook)}
    if number not in found:
        raise ValueError(f"{notebook} has no exercise {number}; it has {sorted(found)}")
    check = found[number]
    function = namespace.get(check.function)
    if not callable(function):
        message = f"not answered: the notebook defines no function {check.function}"
        earned = 0
    else:
        try:
            check.run(function)
        except Exception as err:  # a student's bug is a score of 0, not a crash
            message, earned = _why(err), 0
        else:
            message, earned = "correct", check.points
    score = Score(notebook, number, check.title, check.points, earned, message)
    text = f"Exercise {number} ({check.title}): {earned}/{check.points}, {message}"
    if get_ipython() is not None:
        display({GRADE_MIMETYPE: asdict(score), "text/plain": text}, raw=True)
    else:
        print(text)
    return score


def read_scores(notebook: nbformat.NotebookNode) -> list[Score]:
    """Every score :func:`grade_exercise` recorded in an executed notebook."""
    scores = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            payload = output.get("data", {}).get(GRADE_MIMETYPE)
            if payload is not None:
                scores.append(Score(**payload))
    return scores


def identify(path: Path, notebook: nbformat.NotebookNode) -> str:
    """Which of the suite's notebooks ``path`` is: from the edition's metadata, else its name."""
    named = notebook.metadata.get("causalkit", {}).get("notebook")
    if named in NOTEBOOKS:
        return named
    for name, spec in NOTEBOOKS.items():
        if path.name == spec.filename:
            return name
    raise ValueError(
        f"{path} is not one of the suite's notebooks (its file name or metadata should match "
        f"one of: {', '.join(s.filename for s in NOTEBOOKS.values())})"
    )


def with_grading_cells(notebook: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with one grading cell per exercise appended."""
    graded = nbformat.from_dict(notebook)
    graded.cells = [c for c in graded.cells if GRADE_TAG not in c.metadata.get("tags", [])]
    for check in checks_for(name):
        source = (
            "from causalkit.course import grade_exercise\n"
            f"grade_exercise({name!r}, {check.number}, globals());"
        )
        graded.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": [GRADE_TAG]}))
    return graded


def grade_notebook(
    path: str | Path,
    output: str | Path,
    preset: str = "quick",
    cell_timeout: int = DEFAULT_GRADE_TIMEOUT,
    force: bool = False,
) -> GradeReport:
    """Run the notebook at ``path`` headless with its grading cells; the executed copy goes to
    ``output``. A notebook that stops before its end scores 0 on every exercise, saying where
    it stopped."""
    path = Path(path)
    notebook = read_notebook(path)
    name = identify(path, notebook)
    checks = checks_for(name)
    with tempfile.TemporaryDirectory(prefix="causalkit-grade-") as tmp:
        source = Path(tmp) / path.name
        nbformat.write(with_grading_cells(notebook, name), source)
        spec = NOTEBOOKS[name]
        plan = RunPlan(spec, source, check_parameters(spec, preset, {}, source))
        try:
            result = execute(plan, Path(output), cell_timeout=cell_timeout, force=force)
        except NotebookFailed as err:
            why = str(err).splitlines()[0].replace(str(source), str(path))
            scores = [
                Score(name, c.number, c.title, c.points, 0, f"not graded: {why}") for c in checks
            ]
            return GradeReport(name, path, scores, {}, err.output)
    scores = read_scores(nbformat.read(result.output, as_version=4))
    return GradeReport(name, path, scores, result.metrics, result.output)


def grade(
    target: str | Path,
    out: str | Path,
    preset: str = "quick",
    cell_timeout: int = DEFAULT_GRADE_TIMEOUT,
    force: bool = False,
) -> list[GradeReport]:
    """Grade one notebook, or every ``*.ipynb`` in a directory; executed copies go to ``out``."""
    target = Path(target)
    if target.is_dir():
        paths = sorted(p for p in target.glob("*.ipynb") if not p.name.startswith("."))
        if not paths:
            raise ValueError(f"no notebooks in {target}")
    elif target.is_file():
        paths = [target]
    else:
        raise FileNotFoundError(f"no notebook or directory at {target}")
    outputs = [Path(out) / f"{p.stem}.graded.ipynb" for p in paths]
    for path, output in zip(paths, outputs, strict=True):  # all checked before any kernel
        identify(path, read_notebook(path))
        check_output(output, force=force, inputs=tuple(paths), what="graded notebook")
    return [
        grade_notebook(p, o, preset, cell_timeout, force)
        for p, o in zip(paths, outputs, strict=True)
    ]
