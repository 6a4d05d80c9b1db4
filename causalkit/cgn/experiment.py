"""The CGN paper's experiments: presets, and the cached result the notebook and the panel use.

Sauer & Geiger, ICLR 2021 (arXiv:2101.06046): a CGN per MNIST variant, Table 2 (§4.3),
Table 5 (App. H) and an MNIST analogue of Table 1. ``config(preset)`` gives a
:class:`CgnConfig`; ``result(config, seed)`` gives a :class:`Result`, whose parts are
trained on first access and cached on disk (:func:`causalkit.core.cached`), so a rerun
with the same config and seed is instant and a changed config retrains.

Presets: ``quick`` (CPU, the CI regression run) and ``paper`` (the step counts and widths
of the authors' MNIST configuration).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch
from torch import nn

from causalkit.cgn.classifiers import (
    MECHANISMS,
    TABLE5_CORRELATIONS,
    ClassifierConfig,
    generate,
    irm_environments,
    train_augmented,
    train_irm,
    train_lntl,
    train_mechanism_classifiers,
    train_original,
)
from causalkit.cgn.model import CGN
from causalkit.cgn.train import TrainConfig, load_cgn, train_cgn
from causalkit.cgn.variants import VARIANTS, MnistVariant, make_variant
from causalkit.core import (
    cached,
    check_config,
    check_seed,
    child_seed,
    code_version,
    make_config,
)
from causalkit.core.classifier import accuracy, fit_classifier, small_cnn
from causalkit.core.validate import check_int

CODE_VERSION = code_version("causalkit.cgn")  # any edit to the code retrains
METHODS: tuple[str, ...] = ("original", "irm2", "irm5", "lntl", "gan", "cgn")
METHOD_LABELS = {
    "original": "Original",
    "irm2": "IRM (2 envs)",
    "irm5": "IRM (5 envs)",
    "lntl": "LNTL",
    "gan": "Original + GAN",
    "cgn": "Original + CGN",
}
# Table 2 of the paper (train, test accuracy in %); None where the paper has "-".
PAPER_TABLE2: dict[str, dict[str, tuple[float, float] | None]] = {
    "original": {
        "colored": (99.5, 35.9),
        "double_colored": (100.0, 10.3),
        "wildlife": (100.0, 10.1),
    },
    "irm2": {"colored": (99.6, 59.8), "double_colored": (100.0, 67.7), "wildlife": (99.9, 11.3)},
    "irm5": {"colored": None, "double_colored": (99.9, 78.9), "wildlife": (99.8, 76.8)},
    "lntl": {"colored": (99.3, 81.8), "double_colored": (98.7, 69.9), "wildlife": (99.9, 11.5)},
    "gan": {"colored": (99.8, 40.7), "double_colored": (100.0, 10.8), "wildlife": (100.0, 10.4)},
    "cgn": {"colored": (99.7, 95.1), "double_colored": (97.4, 89.0), "wildlife": (99.2, 85.7)},
}
# Table 5 (App. H), mean test accuracy in % at 90 / 95 / 100 % correlation.
PAPER_TABLE5 = {
    "shape": (85.05, 85.08, 85.14),
    "fg": (58.72, 62.69, 65.05),
    "bg": (82.47, 87.96, 90.16),
}
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "no L_shape": {"shape_loss": False},
    "no texture bias": {"texture_bias": False},
    "no adversarial loss": {"adversarial": False},
}


@dataclass(frozen=True)
class CgnConfig:
    """One preset: the CGNs' training, the classifiers', and the ablation's length."""

    cgn: TrainConfig
    classifier: ClassifierConfig
    ablation_variant: str = "colored"
    ablation_steps: int = 2000

    def __post_init__(self) -> None:
        if not isinstance(self.cgn, TrainConfig):
            raise ValueError(f"cgn must be a TrainConfig, got {type(self.cgn).__name__}")
        if not isinstance(self.classifier, ClassifierConfig):
            raise ValueError(
                f"classifier must be a ClassifierConfig, got {type(self.classifier).__name__}"
            )
        if self.ablation_variant not in VARIANTS:
            raise ValueError(
                f"ablation_variant must be one of {VARIANTS}, got {self.ablation_variant!r}"
            )
        check_int("ablation_steps", self.ablation_steps, 1)


# How these were chosen (learning rate, batch size, widths): docs/cgn-log.md.
PRESETS: dict[str, CgnConfig] = {
    "quick": CgnConfig(
        cgn=TrainConfig(steps=750, batch_size=32, ngf=16, ndf=16, learning_rate=5e-4, log_every=50),
        classifier=ClassifierConfig(width=16, epochs=2, generated=5000),
        ablation_steps=200,
    ),
    "paper": CgnConfig(
        cgn=TrainConfig(steps=2000, learning_rate=5e-4, log_every=50),
        classifier=ClassifierConfig(width=32, epochs=4, generated=20_000),
        ablation_steps=2000,
    ),
}


def config(preset: str = "quick", **overrides: Any) -> CgnConfig:
    """The preset's config with ``overrides`` (fields of :class:`CgnConfig`) replaced."""
    return make_config(PRESETS, preset, overrides)


def _check_variant_name(name: str) -> str:
    if name not in VARIANTS:
        raise ValueError(f"unknown MNIST variant {name!r}: choose one of {VARIANTS}")
    return name


def _trained(variant: str, train: TrainConfig, seed: int) -> dict:
    """:func:`train_cgn` on the training split of ``variant``, cached."""
    key = {"variant": variant, "config": train, "seed": seed}
    return cached(
        "cgn-model",
        key,
        lambda: train_cgn(make_variant(variant, "train"), train, seed),
        version=CODE_VERSION,
    )


@dataclass(frozen=True)
class Result:
    """The CGN experiments of one (config, seed): what the notebook and the composer use.

    Each part is computed on first access, cached on disk and kept in memory:
    :meth:`training` and :meth:`cgn` per MNIST variant, :meth:`table2` per variant,
    :attr:`table5` and :attr:`ablation`.
    """

    config: CgnConfig
    seed: int
    _runs: dict[str, dict] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cgns: dict[str, CGN] = field(default_factory=dict, init=False, repr=False, compare=False)
    _tables: dict[str, dict] = field(default_factory=dict, init=False, repr=False, compare=False)

    def training(self, variant: str) -> dict[str, Any]:
        """The CGN's training run on ``variant`` (see :func:`train_cgn` for the keys)."""
        variant = _check_variant_name(variant)
        if variant not in self._runs:
            self._runs[variant] = _trained(variant, self.config.cgn, self.seed)
        return self._runs[variant]

    def cgn(self, variant: str) -> CGN:
        """The trained CGN of ``variant``, in eval mode; the same object on every call."""
        variant = _check_variant_name(variant)
        if variant not in self._cgns:
            self._cgns[variant] = load_cgn(self.training(variant))
        return self._cgns[variant]

    def table2(self, variant: str) -> dict[str, Any]:
        """Table 2's column pair for ``variant``: every classifier's train and test accuracy.

        Train accuracy is on the variant's training images (correlation 1), test
        accuracy on the 1,000 test digits with random cues. Returns ``accuracy``
        (method → {"train", "test"}), ``mu_mask`` (the CGN's, last logged),
        ``roles_swapped``, ``cgn_seconds`` and ``train_seconds`` (CGN plus every
        classifier; a cached CGN counts the seconds it took when it was trained).
        """
        variant = _check_variant_name(variant)
        if variant not in self._tables:
            key = {"variant": variant, "config": self.config, "seed": self.seed}
            self._tables[variant] = cached(
                "cgn-table2", key, lambda: _table2(self, variant), version=CODE_VERSION
            )
        return self._tables[variant]

    @cached_property
    def table5(self) -> dict[str, list[float]]:
        """App. H on double-colored MNIST: SC, OCC and BCC at 90 / 95 / 100 % correlation.

        The classifiers are trained on counterfactuals of the double-colored CGN; the
        test environments are the 1,000 *test* digits (unseen by the CGN and the
        classifiers) with foreground and background colors that agree with the
        digit's class with the environment's probability. Every accuracy is against
        the digit's class. Returns mechanism → accuracies in the order of
        :data:`TABLE5_CORRELATIONS`.
        """
        key = {"config": self.config, "seed": self.seed}
        return cached("cgn-table5", key, lambda: _table5(self), version=CODE_VERSION)

    @cached_property
    def ablation(self) -> dict[str, dict[str, float]]:
        """Switch off one inductive bias at a time (the MNIST analogue of Table 1).

        Each row trains a CGN on ``config.ablation_variant`` for
        ``config.ablation_steps`` and reports:

        * ``mu_mask``: the mask's mean (collapse towards 0 or 1, Table 1's red values);
        * ``binary``: L_binary of the mask in bits per pixel (0 = a hard mask);
        * ``mask_accuracy``: a digit classifier trained on the *real* binary masks,
          applied to generated masks labelled with the shape class: does the mask
          carry the digit's shape?
        * ``composite_accuracy``: the Original classifier on non-counterfactual
          composites labelled y: do composites look like the training images?
        * ``cgn_test_accuracy``: Original + CGN trained on this CGN's counterfactuals,
          on the real test set: are its counterfactuals useful?
        """
        key = {"config": self.config, "seed": self.seed}
        return cached("cgn-ablation", key, lambda: _ablation(self), version=CODE_VERSION)


def result(config: CgnConfig, seed: int = 0) -> Result:
    """The CGN experiments of ``config`` and ``seed``; each part trains on first access."""
    config, seed = check_config(config, CgnConfig), check_seed(seed)
    return Result(config, seed)


# --------------------------------------------------------------------------- the builds


def _accuracies(net: nn.Module, train: MnistVariant, test: MnistVariant) -> dict[str, float]:
    return {
        "train": accuracy(net, train.images, train.labels),
        "test": accuracy(net, test.images, test.labels),
    }


def _table2(result: Result, variant: str) -> dict[str, Any]:
    clf, seed = result.config.classifier, result.seed
    run, cgn = result.training(variant), result.cgn(variant)
    start = time.perf_counter()
    train, test = make_variant(variant, "train"), make_variant(variant, "test")
    nets = {
        "original": train_original(train, clf, seed),
        "irm2": train_irm(irm_environments(variant, 2, seed), clf, seed),
        "irm5": train_irm(irm_environments(variant, 5, seed), clf, seed),
        "lntl": train_lntl(train, clf, seed),
        "gan": train_augmented(train, cgn, clf, counterfactual=False, seed=seed),
        "cgn": train_augmented(train, cgn, clf, counterfactual=True, seed=seed),
    }
    classifier_seconds = time.perf_counter() - start
    return {
        "accuracy": {m: _accuracies(net, train, test) for m, net in nets.items()},
        "mu_mask": run["history"]["mu_mask"][-1],
        "roles_swapped": run["roles_swapped"],
        "cgn_seconds": run["seconds"],
        "train_seconds": run["seconds"] + classifier_seconds,
    }


def _table5(result: Result) -> dict[str, list[float]]:
    nets = train_mechanism_classifiers(
        result.cgn("double_colored"), result.config.classifier, result.seed
    )
    # One seed for the three environments: they are nested (see make_variant).
    env_seed = child_seed(result.seed, "table5-environments")
    envs = [
        make_variant("double_colored", "test", correlation=p, seed=env_seed)
        for p in TABLE5_CORRELATIONS
    ]
    return {part: [accuracy(nets[part], e.images, e.labels) for e in envs] for part in MECHANISMS}


def _ablation(result: Result) -> dict[str, dict[str, float]]:
    config, seed = result.config, result.seed
    variant = config.ablation_variant
    train, test = make_variant(variant, "train"), make_variant(variant, "test")
    clf = config.classifier
    torch.manual_seed(seed)
    mask_net = fit_classifier(
        small_cnn(1, 32, 10, clf.width),
        train.masks,
        train.labels,
        epochs=clf.epochs,
        seed=seed,
        desc="mask classifier",
    )
    original = train_original(train, clf, seed)
    rows = {}
    for name, switches in ABLATIONS.items():
        run = _trained(variant, replace(config.cgn, steps=config.ablation_steps, **switches), seed)
        cgn = load_cgn(run)
        samples = generate(cgn, 2000, counterfactual=False, seed=seed)
        augmented = train_augmented(train, cgn, clf, counterfactual=True, seed=seed)
        rows[name] = {
            "mu_mask": run["history"]["mu_mask"][-1],
            "binary": run["history"]["binary"][-1],
            "mask_accuracy": accuracy(mask_net, samples["masks"], samples["shape"]),
            "composite_accuracy": accuracy(original, samples["images"], samples["shape"]),
            "cgn_test_accuracy": accuracy(augmented, test.images, test.labels),
        }
    return rows


__all__ = [
    "ABLATIONS",
    "CODE_VERSION",
    "METHODS",
    "METHOD_LABELS",
    "PAPER_TABLE2",
    "PAPER_TABLE5",
    "PRESETS",
    "CgnConfig",
    "Result",
    "config",
    "result",
]
