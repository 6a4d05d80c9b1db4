"""``python -m causalkit lab``: JupyterLab on the notebooks, behind a token that stays private.

The token is made once per start (or read from ``$CAUSALKIT_LAB_TOKEN``) and handed to the
server through its environment, which only the same user can read, never on the command
line, where ``ps`` shows it to everyone. The URL printed is the one the server accepts:
it binds to one port and fails rather than moving to another.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping

from causalkit.core.settings import get_settings

TOKEN_ENV = "CAUSALKIT_LAB_TOKEN"
MIN_TOKEN_LENGTH = 16


def lab_token(environ: Mapping[str, str]) -> str:
    """``$CAUSALKIT_LAB_TOKEN`` when set (refused when empty or short), else a fresh token."""
    if TOKEN_ENV not in environ:
        return secrets.token_hex(16)
    token = environ[TOKEN_ENV].strip()
    if not token:
        raise ValueError(
            f"{TOKEN_ENV} is set but empty, which would turn authentication off; "
            "unset it to get a fresh token"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} characters")
    return token


def lab_command(host: str, port: int, as_root: bool) -> list[str]:
    """The server's command line: no token in it."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ip={host}",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={get_settings().notebooks}",
        "--LabApp.default_url=/lab/tree/00_tour.ipynb",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    return [*command, "--allow-root"] if as_root else command


def check_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be in 1..65535, got {port}")
    return port


def server_environment(token: str) -> dict[str, str]:
    """This process's environment for a Jupyter server: the token in ``JUPYTER_TOKEN``, where
    only the same user can read it, and ours removed."""
    return {k: v for k, v in os.environ.items() if k != TOKEN_ENV} | {"JUPYTER_TOKEN": token}


def serve(host: str, port: int) -> None:
    """Print the URL, then become the JupyterLab server (this process is replaced)."""
    check_port(port)
    token = lab_token(os.environ)
    as_root = os.geteuid() == 0
    env = server_environment(token)
    print(f"JupyterLab: http://{host}:{port}/lab?token={token}", flush=True)
    if as_root:
        print("running as root: JupyterLab is started with --allow-root", flush=True)
    os.execve(sys.executable, lab_command(host, port, as_root), env)
