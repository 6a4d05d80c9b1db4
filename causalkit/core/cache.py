"""A small on-disk cache for expensive results: data sets and trained weights.

Entries live in the settings' cache directory (``data_cache/`` in a checkout;
``$CAUSALKIT_CACHE`` overrides it). An entry is keyed by a hash of the experiment's
config and a code version (:func:`source_version`: a hash of the code that builds it), so
changing either builds a new entry instead of reusing a wrong one.

Writes go to a temporary file that is renamed into place (with the umask's permissions,
so a class can share a cache), and a file lock keeps two processes from building the
same entry twice. Loads check the archive's CRCs, then use
``torch.load(..., weights_only=True)``: a cache file can never run code. A file that is
damaged, or whose stored config and version disagree with the request (stale), is
rebuilt with a warning, never trusted. A cache that cannot be written costs the reuse,
not the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import io
import json
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from filelock import FileLock

from causalkit import __version__
from causalkit.core.files import write_atomically
from causalkit.core.settings import get_settings

T = TypeVar("T")

# What torch.load(weights_only=True) can read back; anything else is refused at save time,
# because an entry that cannot be loaded would be rebuilt on every run.
_LEAF_TYPES = (torch.Tensor, str, int, float, bool, type(None))
# A write takes seconds; a temporary file this old belongs to a process that was killed.
ORPHAN_SECONDS = 3600.0


class CacheWarning(UserWarning):
    """A cache entry was corrupt or stale and is being rebuilt, or could not be written."""


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
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getvalue())


def _load(path: Path) -> Any:
    """The entry at ``path``; a damaged archive member (CRC mismatch) is an error.

    ``torch.save`` writes CRC-32s that ``torch.load`` never checks, so a flipped bit in
    a tensor would load silently as a wrong number.
    """
    data = path.read_bytes()  # read once: both the check and the load use these bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise ValueError(f"member {damaged} fails its CRC check")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def remove_orphans(root: Path, older_than: float = ORPHAN_SECONDS) -> int:
    """Delete temporary files that a killed write left behind; returns how many."""
    removed = 0
    now = time.time()
    for tmp in root.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
    return removed


def source_version(*packages: str) -> str:
    """A hash of every ``.py`` file of ``packages`` (dotted names): a cache's code version.

    Derived, not kept by hand, so an edit to the code that builds an entry (a student's
    included) never reuses what the old code built.
    """
    digest = hashlib.sha256()
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise ValueError(f"no module or package called {package!r}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for file in files:
            digest.update(file.relative_to(origin.parent).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def code_version(package: str) -> str:
    """The code version of a paper's cache entries: its package, ``core`` and ``data``."""
    return source_version(package, "causalkit.core", "causalkit.data")


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    size: int  # bytes


def entries(root: Path | None = None) -> list[Entry]:
    """Every entry in the cache, by name then file."""
    root = root or cache_dir()
    found = []
    for path in sorted(root.glob("*.pt")):
        name, sep, _key = path.stem.rpartition("-")
        if sep:
            found.append(Entry(name, path, path.stat().st_size))
    return found


def clear(name: str | None = None, root: Path | None = None) -> list[Entry]:
    """Delete the entries called ``name`` (every entry if None) and leftover temporary files."""
    root = root or cache_dir()
    doomed = [e for e in entries(root) if name is None or e.name == name]
    for entry in doomed:
        entry.path.unlink(missing_ok=True)
        _lock_path(entry.path).unlink(missing_ok=True)
    if root.is_dir():
        remove_orphans(root, older_than=0 if name is None else ORPHAN_SECONDS)
    return doomed


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
    seen = _signature(path)
    stored = _read(path, meta)
    if stored is not _MISSING:
        return stored
    try:
        lock = FileLock(_lock_path(path))
        lock.acquire()
    except OSError as err:
        # An unwritable cache still computes; it just cannot keep or share the result.
        _warn(f"cache directory {path.parent} is not writable ({err}); computing without it")
        return _built(build)
    try:
        if _signature(path) != seen:  # another process built it while we waited
            stored = _read(path, meta)
            if stored is not _MISSING:
                return stored
        value = _built(build)
        try:
            remove_orphans(path.parent)
            _write_atomically(path, {"meta": meta, "value": value})
        except OSError as err:
            _warn(f"could not write cache entry {path} ({err}); keeping the result in memory only")
        return value
    finally:
        lock.release()


def _built(build: Callable[[], T]) -> T:
    value = build()
    _check_loadable(value)
    return value


_MISSING = object()
LOCKS = ".locks"  # lock files live apart, so the cache folder lists only entries


def _lock_path(path: Path) -> Path:
    (path.parent / LOCKS).mkdir(parents=True, exist_ok=True)
    return path.parent / LOCKS / f"{path.name}.lock"


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewritten file from the one read before (None: no file)."""
    try:
        stat = path.stat()
    except OSError:  # missing, or under something that is not a folder: as exists() sees it
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _read(path: Path, meta: dict) -> Any:
    """The stored value if ``path`` holds a sound entry for ``meta``; else ``_MISSING``."""
    if not path.exists():
        return _MISSING
    try:
        stored = _load(path)
    except Exception as err:
        _warn(f"cache entry {path} is corrupt ({type(err).__name__}: {err}); rebuilding it")
        return _MISSING
    if isinstance(stored, dict) and stored.get("meta") == meta and "value" in stored:
        return stored["value"]
    _warn(f"cache entry {path} is stale (its config or code version differs); rebuilding it")
    return _MISSING
