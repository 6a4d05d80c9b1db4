"""Where causalkit reads notebooks and writes its cache and runs: one object, one place.

Each path honours an environment variable first. Otherwise a source checkout (an
editable install) keeps everything beside the package, as the README describes; an
installed wheel reads the notebooks it installed under ``<prefix>/share/causalkit`` and
caches in the user's cache directory.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS_ENV = "CAUSALKIT_NOTEBOOKS"
CACHE_ENV = "CAUSALKIT_CACHE"
RUNS_ENV = "CAUSALKIT_RUNS"

_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    notebooks: Path
    cache: Path
    runs: Path
    checkout: Path | None  # the source tree, when causalkit runs from one


def source_checkout() -> Path | None:
    """The repository causalkit was installed from in editable mode, or None for a wheel."""
    root = _PACKAGE.parent
    is_checkout = (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()
    return root if is_checkout else None


def _from_env(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def installed_notebooks() -> Path:
    """Where pip put the notebooks of an installed wheel (``share/causalkit/notebooks``)."""
    try:
        files = importlib.metadata.distribution("causalkit").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "00_tour.ipynb" and "share/causalkit/notebooks" in file.as_posix():
            return Path(file.locate()).resolve().parent
    return Path(sys.prefix) / "share" / "causalkit" / "notebooks"


def _user_cache() -> Path:
    base = _from_env("XDG_CACHE_HOME") or Path.home() / ".cache"
    return base / "causalkit"


def get_settings() -> Settings:
    """The paths in force now (read on every call, so a changed variable takes effect)."""
    checkout = source_checkout()
    if checkout is not None:
        notebooks, cache, runs = checkout / "notebooks", checkout / "data_cache", checkout / "runs"
    else:
        notebooks = installed_notebooks()
        cache, runs = _user_cache(), Path.cwd() / "runs"
    return Settings(
        notebooks=_from_env(NOTEBOOKS_ENV) or notebooks,
        cache=_from_env(CACHE_ENV) or cache,
        runs=_from_env(RUNS_ENV) or runs,
        checkout=checkout,
    )
