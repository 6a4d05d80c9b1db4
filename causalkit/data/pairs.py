"""Cause-effect pairs in the Tübingen CSV layout, and the 99 pairs shipped in ``cdt``.

The layout (SampleID, A, B), with A and B each a space-separated list of numbers,
is what the Causal Discovery Toolbox ships in ``cdt/data/resources``. The file is
found through the installed package's location, without importing ``cdt`` (whose
import pulls in much of the scientific stack and probes for GPUs).
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MIN_POINTS = 10
TUEBINGEN_PAIRS = 99  # univariate pairs in cdt's file; fewer means the file was cut short
_TUEBINGEN = Path("data") / "resources" / "Tuebingen_pairs.csv"


@dataclass(frozen=True)
class CauseEffectPair:
    """Paired samples of two variables; in the Tübingen file A causes B."""

    sample_id: str
    a: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class PairsFile:
    """The valid pairs of a file, and the rows that were rejected with the reason."""

    pairs: list[CauseEffectPair]
    rejected: list[tuple[str, str]] = field(default_factory=list)


def _parse_column(text: str, column: str) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=float)
    except ValueError:
        bad = next(tok for tok in text.split() if not _is_number(tok))
        raise ValueError(f"column {column} has a non-numeric value {bad!r}") from None
    if not np.isfinite(values).all():
        raise ValueError(f"column {column} contains NaN or infinite values")
    if len(values) < MIN_POINTS:
        raise ValueError(f"column {column} has {len(values)} points; at least {MIN_POINTS} needed")
    if np.ptp(values) == 0:
        raise ValueError(f"column {column} is constant")
    return values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


@contextmanager
def _long_fields() -> Iterator[None]:
    """Let csv read fields of any length: a real pair can hold hundreds of thousands of points."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def read_pairs_csv(path: str | Path) -> PairsFile:
    """Read a Tübingen-layout CSV, keeping valid rows and reporting bad ones by SampleID.

    A row is rejected (not the whole file) when a column is non-numeric, holds NaN or
    infinity, has fewer than 10 points or is constant, when A and B differ in length, or
    when its SampleID repeats an earlier row's. A missing file, text that is not UTF-8
    (a byte-order mark is fine) or a wrong header is an error naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no pairs file at {path}")
    pairs: list[CauseEffectPair] = []
    rejected: list[tuple[str, str]] = []
    first_line: dict[str, int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as f, _long_fields():
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if header != ["SampleID", "A", "B"]:
                raise ValueError(f"{path}: expected header SampleID,A,B, got {','.join(header)!r}")
            for line, row in enumerate(reader, start=2):
                sample_id = row[0].strip() if row else f"<line {line}>"
                try:
                    if len(row) != 3:
                        raise ValueError(f"expected 3 fields, got {len(row)}")
                    if sample_id in first_line:
                        raise ValueError(
                            f"duplicate SampleID (first on line {first_line[sample_id]})"
                        )
                    first_line[sample_id] = line
                    a, b = _parse_column(row[1], "A"), _parse_column(row[2], "B")
                    if len(a) != len(b):
                        raise ValueError(f"A has {len(a)} points but B has {len(b)}")
                except ValueError as err:
                    rejected.append((sample_id, str(err)))
                    continue
                pairs.append(CauseEffectPair(sample_id, a, b))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise ValueError(f"{path}: not a readable CSV ({err})") from None
    return PairsFile(pairs, rejected)


def tuebingen_path() -> Path:
    """Location of ``Tuebingen_pairs.csv`` inside the installed ``cdt`` package."""
    spec = importlib.util.find_spec("cdt")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Tübingen cause-effect pairs ship inside the Causal Discovery Toolbox: "
            "pip install cdt"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _TUEBINGEN
    if not path.is_file():
        raise FileNotFoundError(
            f"cdt is installed but {path} is missing: pip install --force-reinstall cdt"
        )
    return path


@lru_cache(maxsize=1)
def _tuebingen(path: Path) -> tuple[CauseEffectPair, ...]:
    result = read_pairs_csv(path)
    if result.rejected:
        first = "; ".join(f"{sid}: {why}" for sid, why in result.rejected[:3])
        raise ValueError(f"{path}: {len(result.rejected)} invalid pairs ({first})")
    return tuple(result.pairs)


def tuebingen_pairs(path: str | Path | None = None) -> list[CauseEffectPair]:
    """The 99 univariate Tübingen pairs shipped with ``cdt``; in every one, A causes B.

    ``path`` reads another file in the same layout instead, strictly: any bad row
    is an error (use :func:`read_pairs_csv` to keep the good rows of a messy file).
    """
    if path is not None:
        return list(_tuebingen(Path(path)))
    shipped = tuebingen_path()
    pairs = _tuebingen(shipped)
    if len(pairs) != TUEBINGEN_PAIRS:
        raise ValueError(
            f"{shipped} holds {len(pairs)} pairs, not the {TUEBINGEN_PAIRS} cdt ships: "
            "the file was cut short; pip install --force-reinstall --no-deps cdt"
        )
    return list(pairs)
