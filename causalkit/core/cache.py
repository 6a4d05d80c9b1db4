"""A small on-disk cache for expensive results: data sets and trained weights.

Entries live in the settings' cache directory (``data_cache/`` in a checkout;
``$CAUSALKIT_CACHE`` overrides it). An entry is keyed by a hash of the experiment's
config and a code version, so changing either builds a new entry instead of reusing a wrong one.
Writes go to a temporary file that is renamed into place, so an interrupted run
never leaves half a file under the real name. Loads use
``torch.load(..., weights_only=True)``: a cache file can never run code. A file
that fails to load, or whose stored config and version disagree with the request
(stale), is rebuilt with a warning, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from causalkit import __version__
from causalkit.core.settings import get_settings

T = TypeVar("T")

# What torch.load(weights_only=True) can read back; anything else is refused at save time,
# because an entry that cannot be loaded would be rebuilt on every run.
_LEAF_TYPES = (torch.Tensor, str, int, float, bool, type(None))


class CacheWarning(UserWarning):
    """A cache entry was corrupt or stale and is being rebuilt."""


def cache_dir() -> Path:
    """The cache directory: ``$CAUSALKIT_CACHE`` if set (see :mod:`causalkit.core.settings`)."""
    return get_settings().cache


def _canonical_config(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return {str(k): _canonical_config(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_canonical_config(v) for v in config]
    if isinstance(config, (str, int, float, bool, type(None))):
        return config
    raise TypeError(
        f"cache configs may hold only dataclasses, mappings, sequences, str, int, float, "
        f"bool and None; got {type(config).__name__}: {config!r}"
    )


def cache_key(config: Any, version: str) -> str:
    """Hash of a config (dataclass or mapping of plain values) and a code version."""
    payload = json.dumps(
        {"config": _canonical_config(config), "version": version, "causalkit": __version__},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _check_loadable(value: Any, where: str = "value") -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where} has a key of type {type(k).__name__}; use str or int")
            _check_loadable(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_loadable(v, f"{where}[{i}]")
    elif not isinstance(value, _LEAF_TYPES):
        raise TypeError(
            f"{where} is a {type(value).__name__}; cache entries may hold only tensors, "
            "numbers, strings, None and dicts/lists of them (convert arrays with torch.as_tensor, "
            "modules with .state_dict())"
        )


def _write_atomically(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def entry_path(name: str, config: Any, version: str, root: Path | None = None) -> Path:
    """Where the entry for ``(name, config, version)`` lives."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"cache entry name must be letters, digits, '-', '_' or '.', got {name!r}")
    return (root or cache_dir()) / f"{name}-{cache_key(config, version)}.pt"


def cached(
    name: str,
    config: Any,
    build: Callable[[], T],
    *,
    version: str,
    root: Path | None = None,
) -> T:
    """Return the cached result of ``build()`` for this config and version, building it if needed.

    ``build`` must return tensors, numbers, strings or nested dicts/lists of them
    (a model's ``state_dict()``, a metrics dict, a data set as tensors). Loaded
    tensors are on the CPU; move them to the device you compute on.
    """
    path = entry_path(name, config, version, root)
    meta = {"name": name, "config": _canonical_config(config), "version": version}
    if path.exists():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            warnings.warn(
                f"cache entry {path} is corrupt ({type(err).__name__}: {err}); rebuilding it",
                CacheWarning,
                stacklevel=2,
            )
        else:
            if isinstance(stored, dict) and stored.get("meta") == meta and "value" in stored:
                return stored["value"]
            warnings.warn(
                f"cache entry {path} is stale (its config or code version differs); rebuilding it",
                CacheWarning,
                stacklevel=2,
            )
    value = build()
    _check_loadable(value)
    _write_atomically(path, {"meta": meta, "value": value})
    return value
