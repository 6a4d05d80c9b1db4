"""The project's own rules: dependencies in one place, every notebook registered and tidy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import tomllib

from causalkit.notebooks import NBVAL_MARK, NOTEBOOKS, notebook_dir, strip_outputs
from causalkit.runner import notebook_parameters

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip_section() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    entries = []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        if not line.startswith("      - "):
            break
        entries.append(stripped[2:])
    return entries


def test_environment_yml_matches_pyproject():
    project = _pyproject()["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"], "-e ."]
    assert _environment_pip_section() == wanted


def test_environment_yml_pins_python_311():
    assert "  - python=3.11" in (ROOT / "environment.yml").read_text().splitlines()


def test_torch_is_pinned():
    assert "torch==2.13.0" in _pyproject()["project"]["dependencies"]


def test_every_notebook_is_registered_and_every_entry_exists():
    on_disk = {p.name for p in notebook_dir().glob("*.ipynb")}
    registered = {spec.filename for spec in NOTEBOOKS.values()}
    assert on_disk == registered


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_has_preset_and_seed_parameters(name):
    params = notebook_parameters(NOTEBOOKS[name])
    assert params["preset"] == "quick" and isinstance(params["seed"], int)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_committed_notebook_is_stripped(name):
    path = notebook_dir() / NOTEBOOKS[name].filename
    nb = nbformat.read(path, as_version=4)
    assert nb == strip_outputs(nb), f"run: python -m causalkit strip --execute {path}"
    assert path.stat().st_size < 200_000


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_is_a_lesson(name):
    """Opens with goals, prerequisites, run times and the paper's link; every section says how
    long it takes; 2-3 self-checks; closes with a summary per goal and graded exercises."""
    nb = nbformat.read(notebook_dir() / NOTEBOOKS[name].filename, as_version=4)
    opening = nb.cells[0].source + nb.cells[1].source
    assert "Learning goals" in opening and "Before you start" in opening
    assert "Run time" in opening
    words = " ".join(opening.lower().split())
    assert "quick preset" in words and "paper preset" in words
    goals = re.findall(r"^(\d)\. ", opening[opening.index("Learning goals") :], flags=re.M)
    if name != "tour":  # the tour links every paper in its suite table instead
        assert re.search(r"https://(arxiv\.org|openreview\.net|doi\.org)/", opening) or (
            "anonymous" in opening
        )
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    sections = [s for s in markdown if s.startswith("## ")]
    untimed = [
        s.splitlines()[0]
        for s in sections
        if "minute" not in "".join(s.splitlines()[:3])
        and not s.startswith(("## Summary", "## Before you start"))
    ]
    assert not untimed, f"sections without a time estimate: {untimed}"
    (summary,) = [s for s in markdown if s.startswith("## Summary")]
    assert re.findall(r"^(\d)\. ", summary, flags=re.M)[: len(goals)] == goals
    tags = [set(c.metadata.get("tags", [])) for c in nb.cells]
    assert 2 <= sum("self-check" in t for t in tags) <= 4
    assert 3 <= sum("exercise" in t for t in tags) <= 6
    assert "causalkit.solutions" not in json.dumps(nb)


@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_checked_cells_have_outputs(name):
    nb = nbformat.read(notebook_dir() / NOTEBOOKS[name].filename, as_version=4)
    checked = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(NBVAL_MARK)]
    assert checked and all(c.outputs for c in checked)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_data_cache_holds_only_its_readme_in_git():
    tracked = subprocess.run(
        ["git", "ls-files", "data_cache"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert tracked in ([], ["data_cache/README.md"])
    assert (ROOT / "data_cache" / "README.md").is_file()


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
