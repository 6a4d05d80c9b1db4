"""Paths come from one settings object: environment first, then the checkout or the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import causalkit.core.settings as settings_module
from causalkit.core.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("CAUSALKIT_NOTEBOOKS", "CAUSALKIT_CACHE", "CAUSALKIT_RUNS"):
        monkeypatch.delenv(name, raising=False)


def test_a_checkout_keeps_everything_beside_the_package(clean_env):
    paths = get_settings()
    assert paths.checkout == ROOT
    assert (paths.notebooks, paths.cache, paths.runs) == (
        ROOT / "notebooks",
        ROOT / "data_cache",
        ROOT / "runs",
    )


def test_environment_variables_win(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("CAUSALKIT_NOTEBOOKS", str(tmp_path / "nb"))
    monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CAUSALKIT_RUNS", str(tmp_path / "runs"))
    paths = get_settings()
    assert (paths.notebooks, paths.cache, paths.runs) == (
        tmp_path / "nb",
        tmp_path / "cache",
        tmp_path / "runs",
    )


def test_outside_a_checkout_the_user_cache_and_working_directory_are_used(
    clean_env, monkeypatch, tmp_path
):
    monkeypatch.setattr(settings_module, "_PACKAGE", tmp_path / "site-packages" / "causalkit")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    paths = get_settings()
    assert paths.checkout is None
    assert paths.cache == tmp_path / "xdg" / "causalkit"
    assert paths.runs == tmp_path / "runs"


def test_a_non_editable_install_finds_its_notebooks(tmp_path):
    """Build the wheel, install it under a prefix, and list the notebooks from elsewhere.

    ``-I``: without it pip would uninstall the editable install this suite runs from.
    """
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ into the tree
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "data_cache", "runs")
    for part in ("causalkit", "widgets", "notebooks", "reproduction"):
        shutil.copytree(ROOT / part, source / part, ignore=skip)
    for part in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / part, source / part)
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("causalkit-*.whl")
    prefix = tmp_path / "prefix"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "-I"]
    subprocess.run([*install, "--prefix", str(prefix), str(wheel)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix)}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSALKIT_")}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    probe = (
        "import causalkit; from causalkit.core import get_settings; s = get_settings(); "
        "print(causalkit.__file__); print(s.notebooks); print(s.cache); print(s.checkout); "
        "from causalkit.report import reproduction_dir; print(reproduction_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    module, notebooks, cache, checkout, tables = out.stdout.split("\n")[:5]
    assert Path(module).is_relative_to(site), out.stderr
    assert Path(notebooks).resolve() == (prefix / "share/causalkit/notebooks").resolve()
    assert (Path(notebooks) / "00_tour.ipynb").is_file()
    shipped = sorted(p.name for p in Path(tables).glob("*.json"))  # the notebooks' tables
    assert shipped == sorted(p.name for p in (ROOT / "reproduction").glob("*.json")) != []
    assert Path(cache) == tmp_path / "xdg" / "causalkit" and checkout == "None"
    listed = subprocess.run(
        [sys.executable, "-m", "causalkit", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0 and "00_tour.ipynb" in listed.stdout
    assert "(missing)" not in listed.stdout
