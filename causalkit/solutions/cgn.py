"""Reference solutions for the exercises of `notebooks/05_cgn.ipynb` (CGN)."""

from __future__ import annotations

import dataclasses

import torch

from causalkit.cgn import compose, config, make_variant, orient_roles, result, swap_roles
from causalkit.cgn.classifiers import MECHANISMS, generate, train_augmented, train_original
from causalkit.cgn.train import load_cgn
from causalkit.core import child_seed
from causalkit.core.classifier import accuracy, predict


def exercise_1_who_is_the_classifier_listening_to(
    preset: str = "quick", seed: int = 0, n: int = 2000
) -> dict[str, dict[str, float]]:
    """On double-colored MNIST, the fraction of predictions that equal each mechanism's class,
    on counterfactuals whose three classes all differ.

    Returns classifier ("original", "cgn") → mechanism ("shape", "fg", "bg") → fraction.
    The Original classifier follows a color; Original + CGN follows the shape.
    """
    run = result(config(preset), seed)
    clf = run.config.classifier
    train = make_variant("double_colored", "train")
    cgn = run.cgn("double_colored")
    nets = {
        "original": train_original(train, clf, seed),
        "cgn": train_augmented(train, cgn, clf, counterfactual=True, seed=seed),
    }
    probe = generate(cgn, 3 * n, counterfactual=True, seed=child_seed(seed, "probe"))
    distinct = (probe["shape"] != probe["fg"]) & (probe["fg"] != probe["bg"])
    distinct &= probe["shape"] != probe["bg"]
    images = probe["images"][distinct][:n]
    answer = {}
    for name, net in nets.items():
        predicted = predict(net, images)
        answer[name] = {
            part: (predicted == probe[part][distinct][:n]).float().mean().item()
            for part in MECHANISMS
        }
    return answer


def exercise_2_counterfactuals_per_noise(
    preset: str = "quick", seed: int = 0, ratios: tuple[int, ...] = (1, 10)
) -> dict[int, float]:
    """Original + CGN on colored MNIST with 1 and 10 counterfactuals per noise u (App. A.3):
    test accuracy per ratio, the number of counterfactuals held fixed."""
    run = result(config(preset), seed)
    train, test = make_variant("colored", "train"), make_variant("colored", "test")
    cgn = run.cgn("colored")
    answer = {}
    for ratio in ratios:
        clf = dataclasses.replace(run.config.classifier, per_noise=ratio)
        net = train_augmented(train, cgn, clf, counterfactual=True, seed=seed)
        answer[ratio] = accuracy(net, test.images, test.labels)
    return answer


def exercise_3_the_composers_symmetry(preset: str = "quick", seed: int = 0) -> dict[str, float]:
    """|C(1 − m, b, f) − C(m, f, b)| on a trained CGN's outputs, and how much re-orienting a
    deliberately inverted copy of that CGN changes its composites (both ≈ 0).

    An inverted copy (:func:`swap_roles`) is the other representative of the same SCM;
    :func:`orient_roles` must turn it back.
    """
    # Private copies on the CPU: one of them is inverted below.
    training = result(config(preset), seed).training("wildlife")
    cgn = load_cgn(training, "cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = cgn.sample(256, g, counterfactual=True)
        flipped = compose(1 - out["mask"], out["background"], out["foreground"])
        symmetry_gap = (flipped - out["composite"]).abs().max().item()

        inverted = load_cgn(training, "cpu")
        swap_roles(inverted)
        swapped = orient_roles(inverted)
        inputs = cgn.sample_inputs(
            256, torch.Generator().manual_seed(child_seed(seed, "inputs")), counterfactual=True
        )
        args = {k: v for k, v in inputs.items() if k != "counterfactual"}
        shuffle = child_seed(seed, "shuffle")  # one patch shuffle for both models
        a = cgn(**args, generator=torch.Generator().manual_seed(shuffle))["composite"]
        b = inverted(**args, generator=torch.Generator().manual_seed(shuffle))["composite"]
    return {
        "symmetry_gap": symmetry_gap,
        "orient_swapped": float(swapped),
        "reoriented_gap": (a - b).abs().max().item(),
    }
