"""Why IRM stays below the paper here: one change at a time, measured.

``python -m causalkit.cgn.irm_study [--variants double_colored,wildlife] [--seed 0] [--rows 0,2]``
trains IRM (App. C.4) at the paper preset's classifier settings, then with one thing
changed per row, and prints a table: train and test accuracy, and, at the end of
training, the IRMv1 penalty and the risk in every environment. The row "λ = 0" is plain
ERM on the same environments: what IRM gains over it is what its penalty does.
Results and their reading: ``docs/cgn-log.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from causalkit.cgn.classifiers import (
    ClassifierConfig,
    irm_environments,
    irm_penalty,
    train_irm,
)
from causalkit.cgn.experiment import PRESETS
from causalkit.cgn.variants import MnistVariant, make_variant
from causalkit.cli import comma_list
from causalkit.core import describe_device
from causalkit.core.classifier import accuracy

# (row label, environments, what changes in the paper preset's classifier config)
SETTINGS: tuple[tuple[str, int, dict], ...] = (
    ("paper preset, 5 envs", 5, {}),
    ("paper preset, 2 envs", 2, {}),
    ("λ = 0 (ERM on the 5 envs)", 5, {"irm_penalty": 0.0}),
    ("final λ = 100", 5, {"irm_penalty": 100.0}),
    ("12 epochs (the ramp over all 12)", 5, {"epochs": 12}),
    ("12 epochs, λ = 0", 5, {"epochs": 12, "irm_penalty": 0.0}),
)


def environment_fit(net: nn.Module, envs: list[MnistVariant]) -> dict[str, list[float]]:
    """Each environment's risk (cross-entropy) and IRMv1 penalty for a trained ``net``."""
    device = next(net.parameters()).device
    fit: dict[str, list[float]] = {"risk": [], "penalty": []}
    for env in envs:
        with torch.no_grad():
            logits = net(env.images.to(device))
        labels = env.labels.to(device)
        fit["risk"].append(F.cross_entropy(logits, labels).item())
        fit["penalty"].append(irm_penalty(logits, labels).item())
    return fit


def study(
    variant: str,
    seed: int = 0,
    base: ClassifierConfig | None = None,
    rows: Sequence[int] | None = None,
) -> Iterator[dict]:
    """One row per :data:`SETTINGS` entry for ``variant`` (only the indices ``rows``, if
    given), yielded as each is trained."""
    rows = range(len(SETTINGS)) if rows is None else rows
    if not all(isinstance(i, int) and 0 <= i < len(SETTINGS) for i in rows):
        raise ValueError(f"rows must be indices below {len(SETTINGS)}, got {list(rows)!r}")
    base = base or PRESETS["paper"].classifier
    train, test = make_variant(variant, "train"), make_variant(variant, "test")  # checks variant
    for label, n_envs, change in (SETTINGS[i] for i in rows):
        envs = irm_environments(variant, n_envs, seed)
        start = time.perf_counter()
        net = train_irm(envs, replace(base, **change), seed)
        fit = environment_fit(net, envs)
        yield {
            "setting": label,
            "train": accuracy(net, train.images, train.labels),
            "test": accuracy(net, test.images, test.labels),
            "penalty": sum(fit["penalty"]),
            "risk": fit["risk"],
            "seconds": time.perf_counter() - start,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="double_colored,wildlife")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", help="comma-separated indices into SETTINGS (default: all)")
    args = parser.parse_args(argv)
    rows = None if args.rows is None else [int(i) for i in args.rows.split(",")]
    print(f"IRM at the paper preset's classifier settings, seed {args.seed}, {describe_device()}")
    for variant in comma_list(args.variants):
        print(f"\n{variant}")
        print(f"{'setting':<38} {'train':>6} {'test':>6} {'penalty':>8}  risk per env (90 → 100 %)")
        for row in study(variant, args.seed, rows=rows):
            risks = " ".join(f"{r:.3f}" for r in row["risk"])
            print(
                f"{row['setting']:<38} {row['train']:6.3f} {row['test']:6.3f} "
                f"{row['penalty']:8.4f}  {risks}   ({row['seconds']:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
