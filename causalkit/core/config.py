"""The lifecycle every paper shares: named presets, validated configs, seeds.

Each paper package (and the tour) exposes ``PRESETS``, ``config(preset, **overrides)``,
``result(config, seed)`` and ``Result``; the helpers here keep those four uniform.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from causalkit.core.validate import check_int

C = TypeVar("C")


def choose_preset(presets: Mapping[str, C], name: str) -> C:
    """The config called ``name``, or a ``ValueError`` that lists the presets there are."""
    try:
        return presets[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}") from None


def make_config(presets: Mapping[str, C], preset: str, overrides: Mapping[str, Any]) -> C:
    """Preset ``preset`` with ``overrides`` replacing fields; the config validates itself.

    An override that is not a field of the config is refused with the fields there are,
    so a typo never silently trains the default.
    """
    base = choose_preset(presets, preset)
    names = [f.name for f in dataclasses.fields(base)]
    unknown = [key for key in overrides if key not in names]
    if unknown:
        raise ValueError(
            f"{type(base).__name__} has no field {unknown[0]!r}; its fields are {', '.join(names)}"
        )
    return dataclasses.replace(base, **overrides)


def check_config(config: object, expected: type[C]) -> C:
    """``config`` if it is an ``expected``, else a ``ValueError`` pointing at ``config()``."""
    if not isinstance(config, expected):
        raise ValueError(
            f"expected a {expected.__name__} (from config(preset, ...)), "
            f"got {type(config).__name__}: {config!r}"
        )
    return config


def check_seed(seed: object) -> int:
    """A run's seed as an int in [0, 2**32), or a ``ValueError``."""
    return check_int("seed", seed, 0, 2**32)
