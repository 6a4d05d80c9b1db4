"""Graders for the NCC notebook's exercises (``notebooks/01_ncc.ipynb``).

Exercises 1 and 3 read the quick preset's trained NCC (from the cache once the notebook has
run); exercises 2 and 4 are cheap.
"""

from __future__ import annotations

from collections.abc import Callable

from causalkit.course.checks import calls_none_of, check


@check("ncc", 1, "exercise_1_swap_every_pair", "Symmetry by construction")
def swap_every_pair(answer: Callable) -> None:
    result = answer()
    error, accuracy, swapped = (
        result["max_sum_error"],
        result["accuracy"],
        result["accuracy_swapped"],
    )
    # Exact per sample; averaging the subsamples of a long pair may round.
    assert error < 1e-6, (
        f"P(A → B) + P(B → A) should be 1 for every pair, but it is off by up to {error:.3g}: "
        "score each pair once as (a, b) and once with its columns swapped, (b, a)"
    )
    assert abs(accuracy + swapped - 1.0) <= 1e-6, (
        f"accuracy + accuracy_swapped should be 1, got {accuracy:.3f} + {swapped:.3f}: count "
        "the share of pairs with a score above ½ in each orientation, over all the pairs"
    )


@check("ncc", 2, "exercise_2_gaussian_hides_the_footprint", "A footprint that vanishes")
def gaussian_hides_the_footprint(answer: Callable) -> None:
    for seed in range(3):
        result = answer(seed=seed)
        forward, backward = result["forward_ratio"], result["backward_ratio"]
        assert forward < 1.2, (
            f"seed {seed}: the spread ratio of Y regressed on X should be below 1.2, got "
            f"{forward:.2f}: draw a Gaussian cause and a Gaussian noise independently and "
            "measure residual_spread(x, y)"
        )
        assert backward < 1.2, (
            f"seed {seed}: the spread ratio of X regressed on Y should be below 1.2, got "
            f"{backward:.2f}: measure residual_spread(y, x) on the same Gaussian data, "
            "not on uniform variables as in Fig. 3"
        )


@check("ncc", 3, "exercise_3_points_needed", "How many points does NCC need?")
def points_needed(answer: Callable) -> None:
    accuracy = answer()
    for m in (10, 1000):
        assert m in accuracy, f"the result should have an accuracy for {m} points (a key {m})"
    assert accuracy[1000] > accuracy[10] + 0.1, (
        f"with 1000 points NCC should be more than 0.1 more accurate than with 10, got "
        f"{accuracy[1000]:.3f} against {accuracy[10]:.3f}: keep the first m points of each "
        "sample, and score fresh pairs from the generator NCC was trained with"
    )
    assert accuracy[1000] > 0.8, (
        f"with 1000 points the trained NCC should be right on more than 80 % of fresh "
        f"synthetic samples, got {accuracy[1000]:.3f}: a sample is right when P(X → Y) > ½ "
        "exactly when its label is 0 (X → Y)"
    )


@check("ncc", 4, "exercise_4_symmetric_composite", "Eq. 5 by hand")
def symmetric_composite_by_hand(answer: Callable) -> None:
    import torch

    from causalkit.ncc.model import NCC, symmetric_composite

    generator = torch.Generator().manual_seed(0)
    cases = [((7,), torch.float32, 1e-6), ((64,), torch.float64, 1e-12)]
    cases += [((3, 5), torch.float32, 1e-6), ((200,), torch.float32, 1e-6)]
    for shape, dtype, tolerance in cases:
        forward = torch.rand(shape, generator=generator, dtype=dtype)
        backward = torch.rand(shape, generator=generator, dtype=dtype)
        got = answer(forward.clone(), backward.clone())
        assert isinstance(got, torch.Tensor), (
            f"return a torch.Tensor, got {type(got).__name__}: combine the two tensors with "
            "tensor arithmetic"
        )
        assert got.shape == forward.shape, (
            f"the result should have the inputs' shape {tuple(forward.shape)}, got "
            f"{tuple(got.shape)}: one P(X → Y) per sample, no reduction"
        )
        expected = symmetric_composite(forward, backward)
        error = (got.to(dtype) - expected).abs()
        worst = int(error.argmax())
        f, b = float(forward.flatten()[worst]), float(backward.flatten()[worst])
        assert float(error.max()) <= tolerance, (
            f"for NCC(x, y) = {f:.4f} and NCC(y, x) = {b:.4f} ({dtype}), Eq. 5 gives "
            f"P(X → Y) = {float(expected.flatten()[worst]):.6f}, yours "
            f"{float(got.flatten()[worst]):.6f}: check the signs in Eq. 5 (the inputs are "
            "probabilities after the sigmoid, not logits)"
        )
        swapped = answer(backward.clone(), forward.clone())
        assert float((got + swapped - 1).abs().max()) <= 2 * tolerance, (
            "P(X → Y) + P(Y → X) should be 1: swapping the two arguments should give 1 minus "
            "your answer"
        )

    # An untrained NCC (weights from a fixed seed): your composite of its two outputs should
    # be what the model's own Eq. 5 gives.
    with torch.random.fork_rng(devices=[]):  # leave the student's random state alone
        torch.manual_seed(0)
        model = NCC().eval()
    pairs = torch.randn(6, 50, 2, generator=generator)
    with torch.no_grad():
        forward, backward = model(pairs), model(pairs.flip(-1))
        expected = model.composite(pairs)
    got = answer(forward, backward)
    assert float((torch.as_tensor(got) - expected).abs().max()) <= 1e-6, (
        "given an NCC's outputs NCC(x, y) and NCC(y, x) on six random samples, your function "
        "should return what the model's own Eq. 5 (NCC.composite) returns"
    )
    calls_none_of(answer, "symmetric_composite", "composite", "probability_causal")
