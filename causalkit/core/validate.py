"""Checks of scalar arguments shared by every paper: one definition, one message style.

``bool`` is an ``int`` in Python, and ``True`` where a count or a seed is expected is a bug at
the call site, so these checks refuse it. NumPy integers and floats are accepted: they
register with :mod:`numbers`.
"""

from __future__ import annotations

import math
import numbers


def is_int(value: object, low: int | None = None) -> bool:
    """Whether ``value`` is an integer (not a bool), and ``>= low`` when ``low`` is given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return low is None or value >= low


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (not a bool); NaN and infinities count."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high) (``high`` None: no upper bound), or a ValueError."""
    if not is_int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value >= high):
        upper = "" if high is None else f" and < {high}"
        raise ValueError(f"{name} must be >= {low}{upper}, got {value}")
    return int(value)


def check_positive_int(name: str, value: object) -> int:
    """``value`` as an int ≥ 1, or a ValueError naming ``name``."""
    if not is_int(value, 1):
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_non_negative(name: str, value: object) -> float:
    """``value`` as a finite float ≥ 0, or a ValueError naming ``name``."""
    if not (is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return float(value)
