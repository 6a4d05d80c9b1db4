"""``python -m causalkit book``: the course site, a Jupyter Book of executed notebooks.

Each page is a notebook executed at its quick preset. A current executed copy is reused
(``run``'s, the regression test's, an earlier book's: any under ``runs/`` whose code hashes as
the notebook's does now), and only the missing ones run, on Dask as ``sweep`` runs them.
Pages lose the answers, as the student edition does, and keep every figure: plotly's as HTML
that draws with the site's own plotly.js, each panel as its saved last frame. Every asset is
local (MathJax, plotly.js, the ipywidgets HTML manager), so the site works offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from causalkit.core.files import write_atomically
from causalkit.core.settings import get_settings
from causalkit.course.editions import EXERCISE_TAG, without_answers
from causalkit.course.grading import GRADE_TAG
from causalkit.notebooks import NOTEBOOKS, get_spec, read_notebook, write_notebook
from causalkit.runner import plan_run
from causalkit.sweep import notebook_version, plan_sweep, run_version, sweep

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
BUILTIN = {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
# What myst-nb renders in HTML, besides images; anything else would be a build warning.
SHOWN_MIME = {"text/plain", "text/html", "text/markdown", "text/latex", WIDGET_MIME}
SELF_CHECK_TAG = "self-check"
BOOK_RUNS = "book"  # runs/book: the copies the book executed itself
LIVE_NOTE = (
    "*This panel is live in JupyterLab (`make lab`) or Voilà (`make app`); "
    "the page shows the last frame it drew when the notebook ran.*"
)
# Pages beside the notebooks: (source relative to the checkout, path in the book).
EXTRA_PAGES = {
    "notebooks/glossary.md": "notebooks/glossary.md",  # where the notebooks' links point
    "docs/instructors.md": "instructors.md",
    "REPRODUCTION.md": "REPRODUCTION.md",  # included by the landing page
}


def _checkout() -> Path:
    checkout = get_settings().checkout
    if checkout is None or not (checkout / "docs" / "site" / "_config.yml").is_file():
        raise ValueError("the book is built from a causalkit source checkout (git clone …)")
    return checkout


def is_current(name: str, path: Path) -> bool:
    """Whether ``path`` is a complete run of notebook ``name``'s code as it is now, at the
    default quick parameters, with the answers in (not a graded student edition)."""
    return _matches(name, path, plan_run(name).parameters, run_version(name))


def _matches(name: str, path: Path, parameters: dict, version: str) -> bool:
    try:
        notebook = read_notebook(path)
    except (OSError, ValueError):
        return False
    papermill = notebook.metadata.get("papermill", {})
    return (
        papermill.get("parameters") == parameters
        and papermill.get("end_time") is not None
        and not papermill.get("exception")
        and notebook.metadata.get("causalkit", {}).get("edition") != "student"
        and notebook_version(name, notebook) == version
    )


def find_executed(name: str, runs: Path | None = None) -> Path | None:
    """The newest current executed copy of notebook ``name`` under ``runs`` (default runs/)."""
    stem = Path(get_spec(name).filename).stem
    root = Path(runs or get_settings().runs)
    candidates = sorted(
        root.rglob(f"{stem}*.ipynb") if root.is_dir() else [],
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    # What a current copy must show, worked out once rather than per candidate.
    parameters, version = plan_run(name).parameters, run_version(name)
    return next((p for p in candidates if _matches(name, p, parameters, version)), None)


def executed_notebooks(
    names: list[str], execute: bool = True, report: Callable[[str], None] = print
) -> dict[str, Path]:
    """Each notebook's current executed copy; the missing ones run in parallel on Dask."""
    found = {name: find_executed(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    for name, path in found.items():
        report(f"{name}: reusing {path}" if path else f"{name}: no current executed copy")
    if missing and not execute:
        raise ValueError(f"no current executed copy of {', '.join(missing)} (and --no-execute)")
    if missing:
        out = get_settings().runs / BOOK_RUNS
        runs = plan_sweep(missing, "quick", [0], {}, out, threads=None)
        summary = sweep(runs, workers=min(len(runs), os.cpu_count() or 1), report=report)
        if summary.failed:
            raise RuntimeError(f"the book's runs failed: {summary.failed}")
        found.update({run.name: run.directory / run.plan.spec.filename for run in runs})
    return found


class StaticOutputs(Preprocessor):
    """Outputs a static page can show: plotly figures as HTML that draws with the page's
    plotly.js, and no MIME type the site cannot render (the metrics' records).

    An executed notebook carries plotly's JSON and its "notebook" renderer's HTML, which loads
    MathJax from a CDN; the renderer's 4.8 MB plotly.js output goes too, as the site loads
    plotly.js once from its own files.
    """

    def preprocess_cell(self, cell, resources, index):
        import plotly.io as pio

        if cell.cell_type != "code":
            return cell, resources
        kept = []
        for output in cell.outputs:
            data = output.get("data", {})
            if PLOTLY_MIME in data:
                data["text/html"] = pio.to_html(
                    dict(data.pop(PLOTLY_MIME)),
                    full_html=False,
                    include_plotlyjs=False,
                    include_mathjax=False,
                    validate=False,
                )
            elif "window.PlotlyConfig" in str(data.get("text/html", "")):
                continue  # the renderer's plotly.js bundle
            for mime in [m for m in data if m not in SHOWN_MIME and not m.startswith("image/")]:
                del data[mime]
            if data or "data" not in output:
                kept.append(output)
        cell.outputs = kept
        return cell, resources


class LivePanelNote(Preprocessor):
    """Under each panel's saved frame, a line saying where the panel is live."""

    def preprocess_cell(self, cell, resources, index):
        tags = cell.metadata.get("tags", [])
        outputs = cell.get("outputs", [])
        if SELF_CHECK_TAG not in tags and any(WIDGET_MIME in o.get("data", {}) for o in outputs):
            note = nbformat.v4.new_output("display_data", data={"text/markdown": LIVE_NOTE})
            cell.outputs.append(note)
        return cell, resources


def builtin_widgets_only(notebook: nbformat.NotebookNode) -> None:
    """Drop saved widget models the bundled HTML manager cannot draw: the panels' pointer
    listeners (ipyevents) are invisible, and loading their module would need the network."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})
    for model_id in [k for k, v in state.items() if v.get("model_module") not in BUILTIN]:
        del state[model_id]


def page_notebook(executed: Path) -> nbformat.NotebookNode:
    """An executed notebook as a site page: no grading cells, no answers, offline figures."""
    notebook = read_notebook(executed)
    notebook, _ = TagRemovePreprocessor(remove_cell_tags={GRADE_TAG}).preprocess(notebook, {})
    for cell in notebook.cells:
        if EXERCISE_TAG in cell.metadata.get("tags", []):
            cell.outputs = []  # what the reference answer printed
    notebook = without_answers(notebook, str(executed))
    for preprocessor in (StaticOutputs(), LivePanelNote()):
        notebook, _ = preprocessor.preprocess(notebook, {})
    builtin_widgets_only(notebook)
    return notebook


def _toc(names: list[str]) -> str:
    chapters = "".join(
        f"      - file: notebooks/{Path(get_spec(n).filename).stem}\n" for n in names
    )
    return (
        "format: jb-book\nroot: index\nparts:\n"
        f"  - caption: Notebooks\n    chapters:\n{chapters}"
        "      - file: notebooks/glossary\n"
        "  - caption: Teaching\n    chapters:\n      - file: instructors\n"
    )


def stage(source: Path, names: list[str], executed: dict[str, Path]) -> None:
    """Write the book's source into ``source``: config, landing page, pages, assets."""
    import plotly

    checkout = _checkout()
    if source.exists():
        shutil.rmtree(source)  # the build's own directory: every build starts clean
    shutil.copytree(checkout / "docs" / "site", source)
    for origin, target in EXTRA_PAGES.items():
        (source / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(checkout / origin, source / target)
    write_atomically(source / "_toc.yml", _toc(names))
    for name in names:
        page = source / "notebooks" / get_spec(name).filename
        write_notebook(page_notebook(executed[name]), page)
    # plotly.js from the installed plotly, so the figures' JSON and the drawing code agree.
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    shutil.copyfile(plotly_js, source / "_static" / "plotly.min.js")


def build(
    root: Path | None = None,
    names: list[str] | None = None,
    execute: bool = True,
    report: Callable[[str], None] = print,
) -> Path:
    """Build the site into ``root/_build/html`` (default: the checkout's); return its index."""
    checkout = _checkout()
    root = Path(root or checkout)
    names = list(names or NOTEBOOKS)
    for name in names:
        get_spec(name)
    executed = executed_notebooks(names, execute, report)
    source = root / "_build" / "source"
    stage(source, names, executed)
    report(f"building the site from {source} with Jupyter Book")
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(source),
        "--path-output",
        str(root),
        "--builder",
        "html",
        "--warningiserror",
        "--keep-going",
    ]
    subprocess.run(command, check=True)
    index = root / "_build" / "html" / "index.html"
    if not index.is_file():
        raise RuntimeError(f"Jupyter Book finished without writing {index}")
    return index
