"""Seeding: one call makes a run repeatable on the CPU, one helper derives every child seed."""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import torch

from causalkit.core.validate import check_int


def child_seed(seed: int, *path: str | int) -> int:
    """The seed of one named part of a run (``child_seed(seed, "eval-clips")``), in [0, 2**32).

    Derived with NumPy's ``SeedSequence`` from the run's seed and the path, so parts never
    share a random stream by accident (``seed + 1`` of one run is ``seed`` of the next) and
    the same (seed, path) gives the same child in every process.
    """
    seed = check_int("seed", seed, 0, 2**32)
    words = [p if isinstance(p, int) and not isinstance(p, bool) else _word(p) for p in path]
    if not words:
        raise ValueError("child_seed needs a path naming the part, e.g. child_seed(seed, 'eval')")
    return int(np.random.SeedSequence([seed, *words]).generate_state(1, dtype=np.uint32)[0])


def _word(part: object) -> int:
    if not isinstance(part, str) or not part:
        raise ValueError(f"child seed path parts are non-empty strings or ints, got {part!r}")
    return zlib.crc32(part.encode())  # stable across processes, unlike hash()


def seed_everything(seed: int, *, deterministic: bool = True) -> np.random.Generator:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) from one integer.

    With ``deterministic`` (the default) torch is asked for deterministic kernels,
    warning instead of failing where an operation has none, so that the same seed
    gives the same metrics on the CPU. Returns a NumPy generator seeded the same
    way, for code that prefers an explicit generator to the global state.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        # cuBLAS needs this set before its first use to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)
