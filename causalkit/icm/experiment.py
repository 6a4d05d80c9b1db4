"""The ICM experiments of §4-5 and App. A.1 end to end: presets, and one cached run per
config and seed.

:func:`result` trains the measuring classifier on clean digits and a committee by Alg. 1,
and measures it on held-out digits: Fig. 5's specialisation matrix and Fig. 6's three
accuracies. Its :class:`Result` also gives App. A.1's committees of other sizes and the
transfer to unseen symbols of Fig. 7 and 8.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from causalkit.core import (
    cached,
    check_config,
    check_seed,
    child_seed,
    code_version,
    make_config,
    seed_everything,
)
from causalkit.core.classifier import accuracy, fit_classifier, predict, small_cnn
from causalkit.core.validate import check_positive_int
from causalkit.icm.glyphs import glyph_images
from causalkit.icm.mechanisms import (
    MECHANISMS,
    IcmData,
    apply_mechanisms,
    icm_data,
    random_mechanisms,
)
from causalkit.icm.model import Committee, Discriminator
from causalkit.icm.train import (
    CompetitionConfig,
    identity_experts,
    join_experts,
    judge,
    load_committee,
    make_probe,
    mechanisms_specialised,
    specialisation_matrix,
    train_committee,
)

CODE_VERSION = code_version("causalkit.icm")  # any edit to the code retrains


@dataclass(frozen=True)
class IcmConfig:
    competition: CompetitionConfig = field(default_factory=CompetitionConfig)
    classifier_epochs: int = 6
    eval_digits: int = 100  # test digits per mechanism in the final specialisation matrix
    committee_sizes: tuple[int, ...] = (16, 6)  # App. A.1: too many and too few experts
    size_iterations: int = 1000  # iterations of each App. A.1 run
    size_test_digits: int | None = None  # test digits for an A.1 run's accuracies (None: all)

    def __post_init__(self) -> None:
        if self.classifier_epochs < 1 or self.eval_digits < 1 or self.size_iterations < 1:
            raise ValueError("classifier_epochs, eval_digits and size_iterations must be positive")
        if self.size_test_digits is not None and self.size_test_digits < 1:
            raise ValueError(f"size_test_digits must be positive, got {self.size_test_digits}")
        if any(n < 1 for n in self.committee_sizes):
            raise ValueError(f"committee sizes must be positive, got {self.committee_sizes}")


PRESETS: dict[str, IcmConfig] = {
    # The paper's experts, but 280 iterations (identity init capped at 100), a classifier
    # trained for 2 epochs, and 20-iteration App. A.1 runs measured on 300 test digits, to
    # fit the CI budget (why not narrower experts: docs/icm-log.md).
    "quick": IcmConfig(
        competition=CompetitionConfig(
            iterations=280, identity_iterations=100, eval_every=70, probe_digits=15
        ),
        classifier_epochs=2,
        eval_digits=30,
        size_iterations=20,
        size_test_digits=300,
    ),
    "paper": IcmConfig(competition=CompetitionConfig(iterations=1200)),
}


def config(preset: str = "quick", **overrides: Any) -> IcmConfig:
    """The preset's config with ``overrides`` (fields of :class:`IcmConfig`) replaced."""
    return make_config(PRESETS, preset, overrides)


@dataclass(frozen=True, eq=False)
class Result:
    """A trained committee, its judge and the instrument that measures it, for one
    (config, seed): what the notebook, its exercises and the expert arena use."""

    config: IcmConfig
    seed: int
    competition: CompetitionConfig  # as trained: config.competition, or an App. A.1 resize
    data: IcmData
    classifier: nn.Module  # §5's canonical classifier: measures, never seen by the learner
    committee: Committee
    discriminator: Discriminator
    # Measured on a fixed probe every eval_every iterations: "iterations" (T,), "scores"
    # and "wins" (T, 10, N'), "accuracy_transformed" and "accuracy_inverted" (T,).
    history: dict[str, torch.Tensor]
    identity_iterations: torch.Tensor  # App. B's identity init, per expert
    train_seconds: float  # init and competition when it was trained, without measurements
    seconds_per_iteration: float
    final: dict[str, Any]  # :func:`final_measurements` on held-out digits

    def with_experts(self, n_experts: int) -> Result:
        """App. A.1: the committee of ``n_experts`` for the same config and seed (cached).

        A size other than the config's is trained for ``size_iterations``, starting from
        this seed's identity-initialised experts (:func:`_resized_start`).
        """
        n_experts = check_positive_int("n_experts", n_experts)
        return _assemble(self.config, self.seed, self.data, self.classifier, n_experts)

    def glyph_transfer(self) -> dict[str, torch.Tensor | float]:
        """Fig. 7 and 8, measured: the committee on symbols it never saw.

        Every glyph goes through one random mechanism (Fig. 7), and again through two
        different random mechanisms (Fig. 8); the committee is applied once, or twice in a
        row (each pass picks its winner by the discriminator; nobody tells it which
        mechanisms acted). Errors are mean squared pixel errors to the untouched glyph.
        """
        committee, discriminator = self.committee, self.discriminator
        generator = torch.Generator().manual_seed(self.seed)
        clean, _ = glyph_images()
        n = len(clean)
        mechanisms = random_mechanisms(n, generator)
        transformed = apply_mechanisms(clean, mechanisms, generator)
        scores, inverted = judge(committee, discriminator, transformed)
        first = random_mechanisms(n, generator)
        others = torch.randint(len(MECHANISMS) - 1, (n,), generator=generator)
        second = (first + 1 + others) % len(MECHANISMS)
        twice = apply_mechanisms(apply_mechanisms(clean, first, generator), second, generator)
        _, one_pass = judge(committee, discriminator, twice)
        _, two_passes = judge(committee, discriminator, one_pass)

        def error(images: torch.Tensor) -> float:
            return ((images - clean) ** 2).mean().item()

        return {
            "clean": clean,
            "mechanisms": mechanisms,
            "transformed": transformed,
            "inverted": inverted,
            "winners": scores.argmax(dim=1),
            "error_transformed": error(transformed),
            "error_inverted": error(inverted),
            "chain_mechanisms": torch.stack([first, second], dim=1),
            "chain_transformed": twice,
            "chain_one_pass": one_pass,
            "chain_two_passes": two_passes,
            "chain_error_transformed": error(twice),
            "chain_error_one_pass": error(one_pass),
            "chain_error_two_passes": error(two_passes),
        }


def result(config: IcmConfig, seed: int = 0) -> Result:
    """The classifier and the committee for (config, seed), trained once, then read from
    the cache."""
    config, seed = check_config(config, IcmConfig), check_seed(seed)
    data = icm_data(seed)
    classifier = _classifier(config, seed, data)
    return _assemble(config, seed, data, classifier, config.competition.n_experts)


def _classifier(config: IcmConfig, seed: int, data: IcmData) -> nn.Module:
    """§5's "pretrained standard MNIST classifier": a measuring instrument, never seen by
    the learner. Like the paper's (trained on all of MNIST's training set), it learns
    from every clean non-test digit, canonical and hidden alike; it never sees a
    transformed digit."""

    def build() -> dict[str, torch.Tensor]:
        seed_everything(seed)
        images = torch.cat([data.canonical, data.hidden])
        labels = torch.cat([data.canonical_labels, data.hidden_labels])
        net = fit_classifier(
            small_cnn(), images, labels, epochs=config.classifier_epochs, seed=seed
        )
        return {k: v.cpu() for k, v in net.state_dict().items()}

    state = cached(
        "icm-classifier",
        {"epochs": config.classifier_epochs, "seed": seed},
        build,
        version=CODE_VERSION,
    )
    net = small_cnn()
    net.load_state_dict(state)
    return net.eval()


def _competition(config: IcmConfig, n_experts: int) -> CompetitionConfig:
    """The competition a committee of ``n_experts`` runs: the config's, or App. A.1's."""
    if n_experts == config.competition.n_experts:
        return config.competition
    return dataclasses.replace(
        config.competition, n_experts=n_experts, iterations=config.size_iterations
    )


def _assemble(
    config: IcmConfig, seed: int, data: IcmData, classifier: nn.Module, n_experts: int
) -> Result:
    competition = _competition(config, n_experts)
    run = _committee_run(config, seed, data, classifier, n_experts)
    committee, discriminator = load_committee(run, competition)
    history = ("iterations", "scores", "wins", "accuracy_transformed", "accuracy_inverted")
    return Result(
        config=config,
        seed=seed,
        competition=competition,
        data=data,
        classifier=classifier,
        committee=committee,
        discriminator=discriminator,
        history={key: run[key] for key in history},
        identity_iterations=run["identity_iterations"],
        train_seconds=float(run["train_seconds"]),
        seconds_per_iteration=float(run["seconds_per_iteration"]),
        final=run["final"],
    )


def _committee_run(
    config: IcmConfig, seed: int, data: IcmData, classifier: nn.Module, n_experts: int
) -> dict[str, object]:
    """:func:`train_committee`'s output for a committee of ``n_experts``, plus ``final``
    (:func:`final_measurements`), trained once per key and then read from the cache."""
    competition = _competition(config, n_experts)
    resized = n_experts != config.competition.n_experts
    key = {
        "competition": competition,
        "classifier_epochs": config.classifier_epochs,
        "eval_digits": config.eval_digits,
        "seed": seed,
    }
    if resized:
        key["test_digits"] = config.size_test_digits

    def build() -> dict[str, object]:
        experts = _resized_start(config, seed, data, classifier, n_experts) if resized else None
        run = train_committee(competition, data, classifier, seed, experts=experts)
        committee, discriminator = load_committee(run, competition)
        test_digits = config.size_test_digits if resized else None
        run["final"] = final_measurements(
            committee, discriminator, data, classifier, config.eval_digits, seed, test_digits
        )
        return run

    return cached("icm-committee", key, build, version=CODE_VERSION)


def _resized_start(
    config: IcmConfig, seed: int, data: IcmData, classifier: nn.Module, n_experts: int
) -> dict[str, object]:
    """Identity-initialised experts for an App. A.1 committee of ``n_experts``.

    App. B initialises every expert alone, so an A.1 committee can take its first
    experts from the main run's (cached) identity init and initialise only the ones
    it has beyond them: 6 experts cost nothing, 16 cost six inits instead of sixteen.
    """
    have = config.competition.n_experts
    main = _committee_run(config, seed, data, classifier, have)
    if n_experts <= have:
        return join_experts((main, n_experts))
    extra_seed = child_seed(seed, "a1-extra-experts", n_experts)
    extra = identity_experts(config.competition, data, n_experts - have, extra_seed)
    return join_experts((main, have), (extra, n_experts - have))


def final_measurements(
    committee: Committee,
    discriminator: Discriminator,
    data: IcmData,
    classifier: nn.Module,
    eval_digits: int,
    seed: int,
    test_digits: int | None = None,
) -> dict[str, object]:
    """Fig. 5 (end of training) and Fig. 6 (its right end) on held-out digits.

    The matrix uses ``eval_digits`` test digits under each of the ten mechanisms; the
    accuracies use every test digit (or a random ``test_digits`` of them), each through
    one random mechanism, as in §5. Every committee size of a seed is measured on the
    same draws.
    """
    generator = torch.Generator().manual_seed(child_seed(seed, "final-measurements"))
    probe = make_probe(data, eval_digits, generator)
    scores, _ = judge(committee, discriminator, probe.images)
    matrix = specialisation_matrix(scores, probe.mechanisms)
    test, labels = data.test, data.test_labels
    if test_digits is not None and test_digits < len(test):
        keep = torch.randperm(len(test), generator=generator)[:test_digits]
        test, labels = test[keep], labels[keep]
    mechanisms = random_mechanisms(len(test), generator)
    transformed = apply_mechanisms(test, mechanisms, generator)
    _, inverted = judge(committee, discriminator, transformed)
    right = predict(classifier, inverted) == labels
    return {
        "matrix": matrix,
        "mechanisms_specialised": mechanisms_specialised(matrix),
        "accuracy_transformed": accuracy(classifier, transformed, labels),
        "accuracy_inverted": right.float().mean().item(),
        "accuracy_clean": accuracy(classifier, test, labels),
        "accuracy_inverted_per_mechanism": torch.stack(
            [right[mechanisms == m].float().mean() for m in range(len(MECHANISMS))]
        ),
    }
