"""Two editions from one source: the student's (answers stubbed) and the instructor's."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat

from causalkit.core.files import check_output
from causalkit.notebooks import (
    NOTEBOOKS,
    get_spec,
    notebook_dir,
    notebook_path,
    read_notebook,
    strip_outputs,
    write_notebook,
)

EXERCISE_TAG = "exercise"  # a cell whose answer region the student edition stubs out
SOLUTION_TAG = "solution"  # a whole cell (a worked answer, a discussion) the student never sees
STUB = (
    "# YOUR CODE HERE: the docstring above says what to return.\n"
    'raise NotImplementedError("exercise not answered yet")'
)
EDITIONS = ("student", "instructor")
EXTRA_PAGES = ("glossary.md",)  # copied beside the notebooks in both editions


def without_answers(notebook: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """``notebook`` with each exercise's answer stubbed and each ``solution`` cell removed."""
    from nbconvert.preprocessors import TagRemovePreprocessor
    from nbgrader.preprocessors import ClearSolutions

    for index, cell in enumerate(notebook.cells):
        tags = cell.metadata.get("tags", [])
        marked = "### BEGIN SOLUTION" in cell.source
        if marked != (EXERCISE_TAG in tags) and SOLUTION_TAG not in tags:
            # Either an answer that would ship unmarked, or a tag with nothing to clear.
            raise ValueError(
                f"{source}, cell {index + 1}: a cell tagged {EXERCISE_TAG!r} needs a "
                "### BEGIN SOLUTION / ### END SOLUTION region, and only such cells may have one"
            )
    notebook, _ = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}).preprocess(notebook, {})
    clear = ClearSolutions(code_stub={"python": STUB}, enforce_metadata=True)
    notebook, _ = clear.preprocess(notebook, {})
    return notebook


def edition_notebook(name: str, kind: str) -> nbformat.NotebookNode:
    """Notebook ``name`` as the ``kind`` edition, without outputs."""
    if kind not in EDITIONS:
        raise ValueError(f"unknown edition {kind!r}; one of: {', '.join(EDITIONS)}")
    spec = get_spec(name)
    notebook = strip_outputs(read_notebook(notebook_path(spec)))
    if kind == "student":
        notebook = without_answers(notebook, spec.filename)
    notebook.metadata["causalkit"] = {"notebook": name, "edition": kind}
    return notebook


def make_edition(
    kind: str, out: str | Path, names: list[str] | None = None, force: bool = False
) -> list[Path]:
    """Write the ``kind`` edition of ``names`` (default: every notebook) into ``out``.

    Every target is checked before anything is written, so a refused run leaves ``out``
    as it was; an existing file is replaced only with ``force`` (a student's work may be
    in it).
    """
    chosen = list(names or NOTEBOOKS)
    targets = {name: Path(out) / get_spec(name).filename for name in chosen}
    pages = [notebook_dir() / page for page in EXTRA_PAGES if (notebook_dir() / page).is_file()]
    sources = tuple(notebook_dir().glob("*"))
    for target in [*targets.values(), *(Path(out) / p.name for p in pages)]:
        check_output(target, force=force, inputs=sources, what=kind)
    notebooks = {name: edition_notebook(name, kind) for name in chosen}
    written = []
    for name, notebook in notebooks.items():
        write_notebook(notebook, targets[name])
        written.append(targets[name])
    for page in pages:
        shutil.copyfile(page, Path(out) / page.name)
        written.append(Path(out) / page.name)
    return written


def exercise_namespace(name: str) -> dict[str, Any]:
    """The functions the committed notebook's exercise cells define (the reference answers),
    for grading them without running the notebook."""
    namespace: dict[str, Any] = {"__name__": f"causalkit_exercises_{name}"}
    for cell in read_notebook(notebook_path(get_spec(name))).cells:
        if cell.cell_type == "code" and EXERCISE_TAG in cell.metadata.get("tags", []):
            exec(compile(cell.source, f"<{name} exercise cell>", "exec"), namespace)
    return namespace
