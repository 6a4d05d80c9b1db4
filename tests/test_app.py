"""python -m causalkit app: the Voilà command, checked without starting a server (the browser
test in tests/browser/test_cgn.py serves the CGN app for real)."""

from __future__ import annotations

import os

import nbformat

from causalkit.app import app_command, app_environment, app_notebook, apps_dir, available_apps
from causalkit.cli import main
from causalkit.notebooks import NOTEBOOKS


def test_every_app_is_a_notebook_that_shows_a_panel():
    assert set(available_apps()) == set(NOTEBOOKS)  # one app per notebook
    for name in available_apps():
        notebook = nbformat.read(app_notebook(name), as_version=4)
        code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
        assert "from widgets." in code and "_panel(" in code.splitlines()[-1]
        assert any("parameters" in c.metadata.get("tags", []) for c in notebook.cells)


def test_an_unknown_app_is_refused_by_name(capsys):
    assert main(["app", "nope"]) == 2
    assert (
        "no app called 'nope'; one of: cfl, cgn, icm, ncc, semvae, tour" in capsys.readouterr().err
    )


def test_a_bad_port_is_refused_before_voila_starts(capsys):
    assert main(["app", "cgn", "--port", "0"]) == 2
    assert "port must be in 1..65535" in capsys.readouterr().err


def test_the_command_hides_the_token_and_uses_the_offline_template():
    command = app_command(app_notebook("cgn"), "127.0.0.1", 8866)
    assert command[1:4] == ["-m", "voila", str(app_notebook("cgn"))]
    assert "--template=causalkit" in command and "--preheat_kernel=True" in command
    assert "--Voila.port_retries=0" in command and "--Voila.auto_token=True" in command
    assert not [arg for arg in command if "token=" in arg.lower() and "auto_token" not in arg]


def test_the_environment_carries_the_token_and_finds_the_template(monkeypatch):
    monkeypatch.setenv("CAUSALKIT_LAB_TOKEN", "a" * 20)
    monkeypatch.setenv("JUPYTER_PATH", "/elsewhere")
    env = app_environment("b" * 20)
    assert env["JUPYTER_TOKEN"] == "b" * 20 and "CAUSALKIT_LAB_TOKEN" not in env
    first, rest = env["JUPYTER_PATH"].split(os.pathsep, 1)
    assert rest == "/elsewhere"
    template = apps_dir() / "share" / "voila" / "templates" / "causalkit"
    assert first == str(apps_dir() / "share") and (template / "index.html.j2").is_file()
    # The template drops the CDN links Voilà's lab template adds (every asset is local).
    assert "fontawesome" in (template / "index.html.j2").read_text()


def test_makefile_serves_the_app_named_by_nb():
    makefile = (apps_dir().parents[1] / "Makefile").read_text()
    assert "python -m causalkit app $(NB)" in makefile
