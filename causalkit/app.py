"""``python -m causalkit app NAME``: one notebook's panels served by Voilà, without code.

For projecting in a lecture: ``notebooks/apps/<name>.ipynb`` builds the panels from the
notebook's quick-preset model (read from the cache), Voilà shows only their outputs, and a
preheated kernel has them ready before the first visitor. Like ``lab``, the server binds one
port, and its token travels in the environment, never on the command line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from causalkit.core.settings import get_settings
from causalkit.lab import check_port, lab_token, server_environment

VOILA_EXTENSIONS = (
    "@voila-dashboards/widgets-manager8",
    "@jupyter-widgets/jupyterlab-manager",
    "jupyterlab-plotly",
    "ipyevents",  # the panels' pointer input (widgets/pointer.py)
)


def apps_dir() -> Path:
    return get_settings().notebooks / "apps"


def available_apps() -> list[str]:
    return sorted(p.stem for p in apps_dir().glob("*.ipynb"))


def app_notebook(name: str) -> Path:
    """``notebooks/apps/<name>.ipynb``, or a ``ValueError`` naming the apps there are."""
    path = apps_dir() / f"{name}.ipynb"
    if not path.is_file():
        raise ValueError(f"no app called {name!r}; one of: {', '.join(available_apps())}")
    return path


def app_command(notebook: Path, host: str, port: int) -> list[str]:
    """Voilà's command line: the offline template, a preheated kernel, no token in it."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--Voila.ip={host}",
        f"--port={port}",
        "--Voila.port_retries=0",
        "--Voila.auto_token=True",  # the token comes from $JUPYTER_TOKEN
        "--template=causalkit",
        "--preheat_kernel=True",
        "--pool_size=1",
        "--show_tracebacks=True",
        # Voilà loads every installed JupyterLab extension unless told otherwise, and those
        # of nbgrader and notebook (installed for the course editions) throw in a page
        # without JupyterLab's shell: only what renders widgets and figures.
        *(f"--VoilaConfiguration.extension_allowlist={name}" for name in VOILA_EXTENSIONS),
    ]


def app_environment(token: str) -> dict[str, str]:
    """This process's environment, with the token and the causalkit Voilà template found."""
    templates = str(apps_dir() / "share")
    paths = [templates, *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    return server_environment(token) | {"JUPYTER_PATH": os.pathsep.join(paths)}


def serve_app(name: str, host: str, port: int) -> None:
    """Print the URL, then become the Voilà server (this process is replaced)."""
    check_port(port)
    notebook = app_notebook(name)
    token = lab_token(os.environ)
    print(f"Voilà ({name}): http://{host}:{port}/?token={token}", flush=True)
    os.execve(sys.executable, app_command(notebook, host, port), app_environment(token))
