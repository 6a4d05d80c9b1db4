"""Graders for the CGN notebook's exercises (``notebooks/05_cgn.ipynb``).

Exercises 1-3 use the notebook's trained CGNs (from the cache) and train classifiers;
exercises 4 and 5 compare the student's composer (Eq. 2) and shape loss (Eq. 3) with the
package's on small random tensors, in a moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from causalkit.cgn.losses import binary_mask_loss, mask_size_loss, shape_loss
from causalkit.cgn.model import compose
from causalkit.course.checks import calls_none_of, check

MECHANISMS = ("shape", "fg", "bg")


def _keys(answer: dict, expected: set, what: str) -> None:
    assert isinstance(answer, dict) and set(answer) == expected, (
        f"{what} should be a dict with the keys {sorted(expected)}, got "
        f"{sorted(answer) if isinstance(answer, dict) else type(answer).__name__}"
    )


@check(
    "cgn",
    1,
    "exercise_1_who_is_the_classifier_listening_to",
    "Who is the classifier listening to?",
)
def who_is_the_classifier_listening_to(answer: Callable) -> None:
    result = answer()
    _keys(result, {"original", "cgn"}, "the result")
    for name in ("original", "cgn"):
        _keys(result[name], set(MECHANISMS), f"result[{name!r}]")
    original, augmented = result["original"], result["cgn"]
    assert max(original["fg"], original["bg"]) > original["shape"] + 0.05, (
        "Original should agree with the foreground or the background class clearly more often "
        "than with the shape class (by more than 0.05); check that each fraction compares the "
        "predictions with that mechanism's class, on counterfactuals whose classes all differ"
    )
    assert original["shape"] < 0.2, (
        f"Original predicts the shape class {original['shape']:.2f} of the time; it should be "
        "below 0.2: train it on the real training images only (train_original)"
    )
    assert augmented["shape"] > 0.5, (
        f"Original + CGN predicts the shape class only {augmented['shape']:.2f} of the time; it "
        "should be above 0.5: train it with counterfactual=True"
    )
    assert max(augmented["fg"], augmented["bg"]) < 0.2, (
        "Original + CGN should rarely predict a color's class (both fractions below 0.2), got "
        f"fg {augmented['fg']:.2f} and bg {augmented['bg']:.2f}"
    )


@check("cgn", 2, "exercise_2_counterfactuals_per_noise", "More counterfactuals per noise")
def counterfactuals_per_noise(answer: Callable) -> None:
    result = answer()
    assert isinstance(result, dict) and set(result) == {1, 10}, (
        "return one test accuracy per ratio, keyed by the ratios 1 and 10, got "
        f"{sorted(result) if isinstance(result, dict) else type(result).__name__}"
    )
    assert min(result.values()) > 0.5, (
        "with 1 and with 10 counterfactuals per noise, Original + CGN should score above 0.5 on "
        f"colored MNIST's test set, got {result}: train with counterfactual=True and change only "
        "per_noise in the preset's classifier settings"
    )


@check("cgn", 3, "exercise_3_the_composers_symmetry", "The composer's symmetry")
def the_composers_symmetry(answer: Callable) -> None:
    result = answer()
    _keys(result, {"symmetry_gap", "orient_swapped", "reoriented_gap"}, "the result")
    assert result["symmetry_gap"] < 1e-5, (
        f"max |C(1 - m, b, f) - C(m, f, b)| is {result['symmetry_gap']:.2g}; it should be below "
        "1e-5: compose the inverted mask with the background and foreground swapped, from the "
        "same sample"
    )
    assert result["orient_swapped"] == 1.0, (
        "orient_roles should swap a copy you inverted with swap_roles (return 1.0 when it "
        f"says it swapped), got {result['orient_swapped']}"
    )
    assert result["reoriented_gap"] < 1e-5, (
        f"the re-oriented copy's composites differ by {result['reoriented_gap']:.2g}; they should "
        "match the trained CGN's within 1e-5: feed both the same inputs and a generator with "
        "the same seed for the patch shuffle"
    )


def _random_images(g: torch.Generator, n: int, side: int) -> tuple[torch.Tensor, ...]:
    mask = torch.rand(n, 1, side, side, generator=g)
    mask[0, 0, 0, 0], mask[-1, 0, -1, -1] = 0.0, 1.0  # hard pixels: pure background, object
    fg = torch.rand(n, 3, side, side, generator=g)
    bg = torch.rand(n, 3, side, side, generator=g)
    return mask, fg, bg


@check("cgn", 4, "exercise_4_composer", "The composer (Eq. 2)")
def composer(answer: Callable) -> None:
    calls_none_of(answer, "compose")
    g = torch.Generator().manual_seed(0)
    for n, side in ((1, 2), (4, 8), (16, 32)):
        mask, fg, bg = _random_images(g, n, side)
        expected = compose(mask, fg, bg)
        got = answer(mask.clone(), fg.clone(), bg.clone())
        assert isinstance(got, torch.Tensor), (
            f"return the composite as a tensor, got {type(got).__name__}"
        )
        assert tuple(got.shape) == tuple(expected.shape), (
            f"the composite should have the images' shape (N, 3, H, W) = "
            f"{tuple(expected.shape)}, got {tuple(got.shape)}: the one-channel mask is "
            "broadcast over the three color channels"
        )
        got = got.detach().to(expected.dtype)
        if torch.allclose(got, compose(mask, bg, fg), atol=1e-6):
            raise AssertionError(
                "the roles are swapped: the mask m weights the foreground f, and 1 - m the "
                "background b"
            )
        error = (got - expected).abs().max().item()
        assert error <= 1e-6, (
            f"on a batch of {n} random {side}x{side} images the composite is off by up to "
            f"{error:.2g}; Eq. 2 blends pixel by pixel: m * f + (1 - m) * b"
        )


def _value(x: object, name: str) -> float:
    t = torch.as_tensor(x).detach()
    assert t.numel() == 1, (
        f"{name} should be one number (a 0-dim tensor), got shape {tuple(t.shape)}"
    )
    value = float(t)
    assert math.isfinite(value), (
        f"{name} is {value}: clamp m to [1e-6, 1 - 1e-6] before the logarithms (log2 0 is -inf)"
    )
    return value


def _close(got: float, want: float, atol: float) -> bool:
    return abs(got - want) <= atol + 1e-5 * abs(want)


@check("cgn", 5, "exercise_5_shape_loss", "The shape loss (Eq. 3)")
def shape_loss_matches(answer: Callable) -> None:
    calls_none_of(answer, "binary_mask_loss", "mask_size_loss", "shape_loss", "mask_mean")
    g = torch.Generator().manual_seed(0)
    demo = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 2, 2)
    small = 0.1 * torch.rand(8, 1, 16, 16, generator=g)  # mu_mask about 0.05: below tau
    large = 1 - 0.1 * torch.rand(4, 1, 8, 8, generator=g)  # about 0.95: above 1 - tau
    mixed = torch.cat([small[:2, :, :8, :8], large[:2], torch.rand(2, 1, 8, 8, generator=g)])
    hard = (torch.rand(4, 1, 32, 32, generator=g) > 0.7).float()
    cases = [
        ("the 2x2 mask of section 2", demo, 0.1, (1.0, 0.5), 1e-5),
        ("random masks", torch.rand(4, 1, 8, 8, generator=g), 0.1, (1.0, 0.5), 1e-5),
        ("masks covering too little", small, 0.1, (1.0, 0.5), 1e-5),
        ("masks covering too much", large, 0.2, (0.3, 2.0), 1e-5),
        ("a batch mixing small, large and medium masks", mixed, 0.1, (2.0, 3.0), 1e-5),
        # Exact 0s and 1s: the package's clamp leaves about 2e-5 bits per pixel.
        ("hard masks of exact 0s and 1s", hard, 0.1, (1.0, 0.5), 1e-4),
    ]
    for what, mask, tau, weights, atol in cases:
        result = answer(mask.clone(), tau=tau, weights=weights)
        _keys(result, {"binary", "mask", "shape"}, "the result")
        binary = _value(result["binary"], "L_binary")
        size = _value(result["mask"], "L_mask")
        total = _value(result["shape"], "L_shape")
        want_binary = binary_mask_loss(mask).item()
        want_size = mask_size_loss(mask, tau).item()
        want_total = shape_loss(mask, tau, weights).item()
        n_pixels = mask[0].numel()
        if not _close(binary, want_binary, atol):
            hint = (
                "take each pixel's binary entropy in bits (log base 2), averaged over the pixels "
                "and the images"
            )
            if _close(binary, want_binary * n_pixels, atol * n_pixels):
                hint = (
                    "average the pixel entropies (bits per pixel) instead of summing them, then "
                    "average over the images"
                )
            raise AssertionError(
                f"L_binary on {what}: got {binary:.6f}, expected {want_binary:.6f}; {hint}"
            )
        assert _close(size, want_size, atol), (
            f"L_mask on {what} (tau = {tau}): got {size:.6f}, expected {want_size:.6f}; compute "
            "mu_mask per image, apply both hinges, max(0, tau - mu) + max(0, mu - (1 - tau)), per "
            "image, then average over the batch"
        )
        assert _close(total, want_total, atol * (1 + sum(weights))), (
            f"L_shape on {what} with weights {weights}: got {total:.6f}, expected "
            f"{want_total:.6f}; it is weights[0] * L_binary + weights[1] * L_mask"
        )
