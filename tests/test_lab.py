"""``make lab`` / ``python -m causalkit lab``: the printed URL works, the token stays private."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from causalkit.lab import TOKEN_ENV, lab_command, lab_token

ROOT = Path(__file__).resolve().parents[1]


def test_a_fresh_token_per_start_and_a_chosen_one_when_given():
    assert lab_token({}) != lab_token({})
    assert len(lab_token({})) == 32
    assert lab_token({TOKEN_ENV: "a-long-enough-token"}) == "a-long-enough-token"
    assert lab_token({"TOKEN": "ghp_SECRET", "JUPYTER_TOKEN": "x"}) not in ("ghp_SECRET", "x")


@pytest.mark.parametrize("value", ["", "   ", "short"])
def test_an_empty_or_short_token_is_refused(value):
    with pytest.raises(ValueError, match=TOKEN_ENV):
        lab_token({TOKEN_ENV: value})


def test_the_command_line_carries_no_token():
    command = " ".join(lab_command("127.0.0.1", 8888, as_root=True))
    assert "token" not in command.lower()
    assert "--ServerApp.port_retries=0" in command and "--allow-root" in command


def test_make_lab_passes_no_token_on_its_command_line():
    env = {**os.environ, "TOKEN": "ghp_SECRET"}
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.causalkit-installed", "lab"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ghp_SECRET" not in dry
    (command,) = [line for line in dry.splitlines() if "python -m causalkit lab" in line]
    assert "token" not in command.lower()
    assert "TOKEN in the environment is ignored" in dry


@pytest.mark.parametrize("value", ["", "abc"])
def test_make_lab_refuses_the_old_token_variable(value):
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.causalkit-installed", "lab", f"TOKEN={value}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "TOKEN is not read" in done.stderr
    assert "causalkit lab" not in done.stdout


def test_an_empty_token_stops_before_any_server_starts():
    env = {**os.environ, TOKEN_ENV: ""}
    done = subprocess.run(
        [sys.executable, "-m", "causalkit", "lab", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "empty" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError:
        return 0  # not listening yet


def test_the_printed_url_is_accepted_and_ps_does_not_show_the_token(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, "JUPYTER_TOKEN")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path))
    server = subprocess.Popen(
        [sys.executable, "-m", "causalkit", "lab", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = server.stdout.readline().split("JupyterLab: ", 1)[1].strip()
        token = url.split("token=", 1)[1]
        api = f"http://127.0.0.1:{port}/api/status"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _status(f"{api}?token={token}") != 200:
            assert server.poll() is None, "the server exited"
            time.sleep(0.5)
        assert _status(f"{api}?token={token}") == 200
        assert _status(api) == 403 and _status(f"{api}?token=wrong{token}") == 403
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
        assert "jupyterlab" in cmdline and token not in cmdline
    finally:
        server.terminate()
        server.wait(30)
