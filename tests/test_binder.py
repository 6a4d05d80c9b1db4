"""binder/ (repo2docker): what a Binder or JupyterHub image would install, read from the
Dockerfile repo2docker prints with --no-build (no Docker needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from causalkit.notebooks import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


@pytest.fixture(scope="module")
def dockerfile() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_the_image_is_python_311_with_our_requirements_then_post_build(dockerfile):
    assert "python=3.11" in dockerfile
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    assert install < dockerfile.index("RUN ./binder/postBuild")


def test_torch_is_the_cpu_build_pinned_as_in_the_makefile():
    pinned = re.search(r"pip install --quiet (torch==[\d.]+)", (ROOT / "Makefile").read_text())
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    wanted = [line for line in lines if line and not line.startswith("#")]
    assert wanted == [
        "--extra-index-url https://download.pytorch.org/whl/cpu",
        f"{pinned[1]}+cpu",
        "-e .",
    ]


def test_post_build_stops_on_error_and_warms_every_notebook():
    script = (BINDER / "postBuild").read_text().splitlines()
    assert script[0] == "#!/bin/bash" and script[1] == "set -e"
    sweep = next(line for line in script if "causalkit sweep" in line)
    assert sweep.split("sweep ")[1].split()[0].split(",") == list(NOTEBOOKS)
    assert "--preset quick" in sweep
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_a_local_build_leaves_the_virtualenv_and_the_cache_out():
    ignored = (BINDER / ".dockerignore").read_text().splitlines()
    assert {".venv", "data_cache/*.pt", "runs", "sweeps"} <= set(ignored)
