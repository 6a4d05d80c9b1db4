"""Named presets for experiment configs: a CPU-quick one and a paper-scale one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

C = TypeVar("C")


def choose_preset(presets: Mapping[str, C], name: str) -> C:
    """The config called ``name``, or a ``ValueError`` that lists the presets there are."""
    try:
        return presets[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}") from None
