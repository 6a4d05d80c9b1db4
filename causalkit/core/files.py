"""Writing results safely: check an output path before the work, then write it atomically.

Every file the CLI writes goes through here, so a typo in a path costs milliseconds
rather than a run, an input is never overwritten by its own output, and an interrupted
write never leaves half a file under the real name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def check_output(
    path: str | Path, *, force: bool = False, inputs: tuple[Path, ...] = (), what: str = "output"
) -> Path:
    """``path`` as a Path if a file can be written there; else a ``ValueError`` naming it.

    Refused: a directory, one of ``inputs`` (even with ``force``), an existing file unless
    ``force``, and a path whose nearest existing parent is not a writable directory.
    Missing parent directories are fine: :func:`write_atomically` creates them.
    """
    typed = str(path)
    target = Path(path).expanduser()
    if target.is_dir():
        raise ValueError(f"{what} {typed!r} is a directory; give a file name")
    resolved = target.resolve()
    for source in inputs:
        if resolved == Path(source).resolve():
            raise ValueError(f"{what} {typed!r} is the input {source}; choose another file")
    if target.exists() and not force:
        raise ValueError(f"{what} {typed!r} exists; pass --force to replace it")
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {typed!r}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {typed!r}: cannot write in {parent}")
    return target


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (mkstemp creates files 0600 whatever it is)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
