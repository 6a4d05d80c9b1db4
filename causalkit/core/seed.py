"""Seeding: one call makes a run repeatable on the CPU."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


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
