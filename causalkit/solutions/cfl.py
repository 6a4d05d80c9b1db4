"""Reference solutions for the CFL notebook's exercises (``notebooks/02_cfl.ipynb``)."""

from __future__ import annotations

from causalkit import cfl
from causalkit.cfl.grating import GratingWorld, causal_class, grating_partitions
from causalkit.cfl.model import greedy_binary_manipulation


def exercise_1_equal_effects() -> str:
    """Give the v-bar exactly the h-bar's predictive effect: 'v-bar only' and 'h-bar only'
    images become observationally identical while their causal effects differ, so the
    causal partition no longer coarsens the observational one. This is one of the
    measure-zero coincidences the CCT excludes (Thm. 5, Supplement B)."""
    world = GratingWorld(behaviour=((0.1, 0.5), (0.5, 0.9)))
    return str(grating_partitions(world)["relation"])


def exercise_2_no_confounding() -> str:
    """Let T ignore H1 (each row of the table constant): seeing is doing, so the
    observational and causal partitions coincide."""
    world = GratingWorld(behaviour=((0.2, 0.2), (0.8, 0.8)))
    return str(grating_partitions(world)["relation"])


def exercise_3_alpha_tradeoff(
    alphas: tuple[float, ...] = (0.05, 0.5, 0.95), n: int = 100, seed: int = 0
) -> dict[float, dict[str, float]]:
    """Manipulate the same images with the trained C at several α: a larger α buys
    smaller changes (MDist) at the price of more failures (MErr)."""
    run = cfl.result(cfl.config("quick"), seed).grating[0]  # trained by the notebook
    net, world = run.net, run.world
    images = run.observed_images[:n]
    flat = images.reshape(n, -1)
    targets = 1 - causal_class(world, images)
    summary = {}
    for alpha in alphas:
        manipulated = greedy_binary_manipulation(net, flat, targets, alpha)
        answers = causal_class(world, manipulated.reshape(n, world.side, world.side))
        summary[alpha] = {
            "merr": float((answers != targets).float().mean()),
            "mdist": float((manipulated != flat).float().sum(dim=1).mean()),
        }
    return summary
