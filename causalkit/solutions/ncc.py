"""Reference solutions for the NCC notebook's exercises (``notebooks/01_ncc.ipynb``)."""

from __future__ import annotations

import numpy as np

from causalkit.core import child_seed
from causalkit.data import CauseEffectPair, tuebingen_pairs
from causalkit.ncc import config, result
from causalkit.ncc.footprints import residual_spread
from causalkit.ncc.synthetic import sample_pairs


def exercise_1_swap_every_pair(preset: str = "quick", seed: int = 0) -> dict[str, float]:
    """Score every Tübingen pair as (A, B) and as (B, A): by Eq. 5 the two answers sum to
    one exactly, so swapping the columns flips every verdict and the accuracy becomes
    one minus itself. The symmetry is built into the classifier, not learned."""
    run = result(config(preset), seed)
    pairs = tuebingen_pairs()
    forward = run.score_pairs(pairs)
    swapped = [CauseEffectPair(p.sample_id, p.b, p.a) for p in pairs]
    backward = run.score_pairs(swapped)
    return {
        "max_sum_error": float(np.abs(forward + backward - 1).max()),
        "accuracy": float((forward > 0.5).mean()),
        "accuracy_swapped": float((backward > 0.5).mean()),
    }


def exercise_2_gaussian_hides_the_footprint(n: int = 4000, seed: int = 0) -> dict[str, float]:
    """With a Gaussian cause and Gaussian noise, Y = X + E is jointly Gaussian, and so is
    X given Y: the backward residual is independent of Y too, so its spread is flat in both
    directions and no method can tell cause from effect (the linear-Gaussian case is not
    identifiable). With uniform variables the backward spread is not flat (Fig. 3b)."""
    rng = np.random.default_rng(seed)
    x, e = rng.standard_normal(n), 0.5 * rng.standard_normal(n)
    y = x + e
    return {
        "forward_ratio": residual_spread(x, y).ratio,
        "backward_ratio": residual_spread(y, x).ratio,
    }


def exercise_3_points_needed(
    sizes: tuple[int, ...] = (10, 30, 100, 300, 1000),
    preset: str = "quick",
    seed: int = 0,
    n_pairs: int = 300,
) -> dict[int, float]:
    """NCC's accuracy on fresh synthetic pairs (not seen in training) as the sample size
    grows: the footprints live in higher moments, which a few points cannot estimate."""
    run = result(config(preset), seed)
    # Fresh pairs from the generator the model was trained on (a stream it never saw).
    fresh = child_seed(seed, "exercise-3-pairs")
    pairs, labels = sample_pairs(n_pairs, max(sizes), fresh, run.generator)
    accuracy = {}
    for m in sizes:
        p = run.model.probability_causal(pairs[:, :m])
        accuracy[m] = float(((p > 0.5) == (labels == 0)).float().mean())
    return accuracy
