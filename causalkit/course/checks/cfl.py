"""Graders for the CFL notebook's exercises (``notebooks/02_cfl.ipynb``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalkit.cfl.model import manipulation_distance, manipulation_error
from causalkit.course.checks import calls_none_of, check

ALPHAS = (0.05, 0.5, 0.95)  # exercise 3's default trade-offs, low to high


@check("cfl", 1, "exercise_1_equal_effects", "A coincidence")
def equal_effects(answer: Callable) -> None:
    relation = answer()
    assert isinstance(relation, str), (
        f"return the 'relation' string of grating_partitions, not a {type(relation).__name__}"
    )
    assert relation == "incompatible", (
        f"got {relation!r}: with the v-bar as predictive as the h-bar, compare the two "
        "partitions by hand: is every causal class still a union of observational classes?"
    )


@check("cfl", 2, "exercise_2_no_confounding", "No confounding")
def no_confounding(answer: Callable) -> None:
    relation = answer()
    assert isinstance(relation, str), (
        f"return the 'relation' string of grating_partitions, not a {type(relation).__name__}"
    )
    assert relation == "equal", (
        f"got {relation!r}: check that T ignores H1 (the two entries of each row of "
        "behaviour equal), then compare P(T | I) with P(T | man(I)) for the four kinds of image"
    )


@check("cfl", 3, "exercise_3_alpha_tradeoff", "The trade-off α")
def alpha_tradeoff(answer: Callable) -> None:
    result = answer()
    missing = [a for a in ALPHAS if a not in result]
    assert not missing, f"the result needs one entry per alpha of {ALPHAS}; missing {missing}"
    low, mid, high = (result[a] for a in ALPHAS)
    assert low["mdist"] > mid["mdist"] > high["mdist"], (
        "MDist (mean flipped pixels) should fall as alpha grows: alpha weighs the distance "
        f"term; got {[round(r['mdist'], 3) for r in (low, mid, high)]} for alpha = {ALPHAS}"
    )
    assert low["merr"] < high["merr"], (
        "MErr (the share of manipulations whose causal class misses the target) should be "
        f"lower at alpha = {ALPHAS[0]} than at alpha = {ALPHAS[-1]}; got {low['merr']:.3f} "
        f"and {high['merr']:.3f}"
    )


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= 1e-6 * max(1.0, abs(expected))


@check("cfl", 4, "exercise_4_manipulation_scores", "Implement MErr and MDist (Eqs. 2–3)")
def manipulation_scores(answer: Callable) -> None:
    calls_none_of(answer, "manipulation_error", "manipulation_distance")
    generator = torch.Generator().manual_seed(0)
    # (Q queries, D pixels, share of pixels flipped, share of answers that miss the target)
    for q, d, flip, miss in (
        (100, 100, 0.05, 0.3),
        (7, 784, 0.2, 0.5),
        (1, 9, 0.5, 1.0),
        (12, 100, 0.0, 0.0),
        (50, 100, 1.0, 0.0),
    ):
        originals = torch.randint(0, 2, (q, d), generator=generator).float()
        flipped = torch.rand(q, d, generator=generator) < flip
        manipulated = torch.where(flipped, 1 - originals, originals)
        targets = torch.randint(0, 2, (q,), generator=generator)
        answers = torch.where(torch.rand(q, generator=generator) < miss, 1 - targets, targets)
        result = answer(originals.clone(), manipulated.clone(), targets.clone(), answers.clone())
        case = f"{q} binary image(s) of {d} pixels"
        assert isinstance(result, dict) and {"merr", "mdist"} <= set(result), (
            f"return a dict with the keys 'merr' and 'mdist'; got {result!r}"
        )
        merr, mdist = float(result["merr"]), float(result["mdist"])
        expected_merr = manipulation_error(answers, targets)
        expected_mdist = manipulation_distance(originals, manipulated)
        assert _close(merr, expected_merr), (
            f"MErr on {case}: got {merr:.6f}, Eq. 2 gives {expected_merr:.6f}: the mean over "
            "the Q queries of |answer - target|"
        )
        assert _close(mdist, expected_mdist), (
            f"MDist on {case}: got {mdist:.6f}, Eq. 3 gives {expected_mdist:.6f}: the mean "
            "over the Q queries of each image's squared L2 distance, summed over its pixels"
        )
