"""The experiments of §4, GRATING (§4.1) and MNIST ON MTURK (§4.2), and the CFL lifecycle.

Chalupka, Perona, Eberhardt, "Visual Causal Feature Learning", UAI 2015. ``config(preset)``
gives a :class:`CflConfig`, ``result(config, seed)`` the :class:`Result` that the notebook
and the panel use. Each part of a result is trained on first access and cached (one entry
per config and seed), so the notebook, the panel and the tests train each manipulator once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch

from causalkit.cfl.grating import (
    GratingWorld,
    causal_class,
    full_columns,
    observational_prob,
    sample_grating,
)
from causalkit.cfl.mnist import (
    N_CLASSES,
    N_PIXELS,
    AnnotatorConfig,
    Annotators,
    annotator_cnn,
    check_digit,
    digit_training_set,
    manipulator_chain,
    one_vs_all_oracle,
    split_digits,
    train_annotators,
)
from causalkit.cfl.model import (
    CausalNet,
    Oracle,
    greedy_binary_manipulation,
    manipulation_distance,
    manipulation_error,
)
from causalkit.cfl.train import (
    ManipulatorConfig,
    ManipulatorRun,
    TrainConfig,
    causal_labels_from_observations,
    learn_manipulator,
)
from causalkit.core import (
    cached,
    check_config,
    check_seed,
    child_seed,
    code_version,
    make_config,
    progress,
    seed_everything,
)
from causalkit.core.validate import check_positive_int
from causalkit.data import mnist

CODE_VERSION = code_version("causalkit.cfl")  # any edit to the code retrains


def _causal_net(state: dict[str, torch.Tensor]) -> CausalNet:
    """A trained C from its cached weights (on the CPU, in eval mode)."""
    hidden, n_pixels = state["layers.0.weight"].shape
    net = CausalNet(n_pixels, hidden)
    net.load_state_dict(state)
    return net.eval()


# ------------------------------------------------------------------ GRATING (§4.1)


@dataclass(frozen=True)
class GratingConfig:
    """§4.1: the world, how many observations Alg. 1 labels, and Alg. 2's settings."""

    world: GratingWorld = field(default_factory=GratingWorld)
    observations: int = 1000
    # α is small because d counts pixels over the whole image: at α = 0.15 completing a
    # 10-pixel bar costs 0.015, far less than a wrong causal class. A larger α stops the
    # search at 9-pixel "near-miss" bars far more often (docs/cfl-log.md).
    manipulator: ManipulatorConfig = field(
        default_factory=lambda: ManipulatorConfig(
            iterations=20,
            queries=100,
            alpha=0.15,
            train=TrainConfig(hidden=100, steps=1000, learning_rate=3e-3, weight_decay=0.0),
        )
    )

    def __post_init__(self) -> None:
        check_positive_int("observations", self.observations)


def grating_oracle(world: GratingWorld) -> Oracle:
    """The oracle A of Alg. 2: the causal class of a manipulated image, P(T | man(I)) (Def. 2)."""

    def oracle(flat_images: torch.Tensor) -> torch.Tensor:
        return causal_class(world, flat_images.reshape(-1, world.side, world.side))

    return oracle


def _vbar_preserved(world: GratingWorld, originals, manipulated, targets, answers) -> float:
    """Share of the successful manipulations that leave the v-bars (the spurious S) alone."""
    side = world.side
    kept = (
        full_columns(originals.reshape(-1, side, side))
        == full_columns(manipulated.reshape(-1, side, side))
    ).all(dim=1)
    success = answers == targets
    return float(kept[success].float().mean()) if success.any() else 0.0


def _heldout_manipulations(config: GratingConfig, net: CausalNet, seed: int) -> dict:
    """The final manipulator on fresh observational images it never trained on.

    Eq. 2's MErr is measured on Alg. 2's own queries, drawn from D_csl; this asks the
    same question of new images, a stricter test of what the manipulator learned.
    """
    world = config.world
    rng = np.random.default_rng(child_seed(seed, "heldout-images"))
    fresh = sample_grating(world, 200, rng).images
    flat = fresh.reshape(len(fresh), -1)
    targets = 1 - causal_class(world, fresh)
    manipulated = greedy_binary_manipulation(net, flat, targets, config.manipulator.alpha)
    answers = grating_oracle(world)(manipulated)
    return {
        "merr": manipulation_error(answers, targets),
        "mdist": manipulation_distance(flat, manipulated),
        "vbar_preserved": _vbar_preserved(world, flat, manipulated, targets, answers),
    }


def train_grating(config: GratingConfig, seed: int) -> dict:
    """Run §4.1 once: per-iteration metrics, the first and last iterations' images, C's weights."""
    seed_everything(seed)
    world = config.world
    sample = sample_grating(world, config.observations, np.random.default_rng(seed))
    flat = sample.images.reshape(len(sample.images), -1)
    oracle = grating_oracle(world)
    labels, _ = causal_labels_from_observations(
        flat, observational_prob(world, sample.images), oracle
    )
    start = time.perf_counter()
    run = learn_manipulator(
        flat, labels, oracle, config.manipulator, seed, binary=True, desc="GRATING Alg. 2"
    )
    images = ("originals", "manipulated", "targets", "answers")
    first, last = run.iterations[0], run.iterations[-1]
    return {
        "heldout": _heldout_manipulations(config, run.net, seed),
        "merr": torch.tensor(run.merr),
        "mdist": torch.tensor(run.mdist),
        "vbar_preserved": torch.tensor(
            [
                _vbar_preserved(world, it.originals, it.manipulated, it.targets, it.answers)
                for it in run.iterations
            ]
        ),
        "first": {k: getattr(first, k) for k in images},
        "last": {k: getattr(last, k) for k in images},
        "observed_images": sample.images,
        "net": {k: v.cpu() for k, v in run.net.state_dict().items()},
        "seconds": time.perf_counter() - start,
    }


@dataclass(frozen=True)
class GratingRun:
    """One GRATING run of §4.1 (Alg. 1, then Alg. 2), as the notebook and the panel use it."""

    world: GratingWorld
    seed: int  # this run's own seed, a child of the result's
    net: CausalNet  # the final C, trained on the last D_csl
    merr: torch.Tensor  # Eq. 2 per Alg. 2 iteration
    mdist: torch.Tensor  # Eq. 3 per iteration, in flipped pixels
    vbar_preserved: torch.Tensor  # per iteration: successful manipulations that keep the v-bar
    heldout: dict[str, float]  # the final C on 200 fresh images: merr, mdist, vbar_preserved
    first: dict[str, torch.Tensor]  # iteration 1: originals, manipulated, targets, answers
    last: dict[str, torch.Tensor]  # the last iteration, likewise
    observed_images: torch.Tensor  # (N, side, side): what Alg. 1 labelled
    seconds: float  # Alg. 2's time when it was trained, not when it was read from the cache


def _grating_run(config: GratingConfig, seed: int) -> GratingRun:
    entry = cached(
        "cfl-grating",
        {"config": config, "seed": seed},
        lambda: train_grating(config, seed),
        version=CODE_VERSION,
    )
    return GratingRun(
        world=config.world,
        seed=seed,
        net=_causal_net(entry["net"]),
        merr=entry["merr"],
        mdist=entry["mdist"],
        vbar_preserved=entry["vbar_preserved"],
        heldout=entry["heldout"],
        first=entry["first"],
        last=entry["last"],
        observed_images=entry["observed_images"],
        seconds=float(entry["seconds"]),
    )


# ------------------------------------------------------------------ MNIST (§4.2)


# C for MNIST: Supp. E's networks had 300 hidden units and were heavily regularised (50 %
# dropout, max-norm 5); CausalNet has neither, so a strong L2 penalty stands in. It decides
# whether Alg. 2 learns at all (the sweep over weight decay: docs/cfl-log.md).
MNIST_TRAIN = TrainConfig(hidden=300, steps=400, weight_decay=3e-2)


@dataclass(frozen=True)
class MnistCflConfig:
    """Everything §4.2 runs: annotators, the data each side sees, Alg. 2's settings."""

    annotators: AnnotatorConfig = field(default_factory=AnnotatorConfig)
    # Share of the 5,000 digits the annotators train on; the rest (disjoint, stratified)
    # is the manipulators' pool, and the annotators' held-out test set.
    annotator_share: float = 0.5
    # D_csl per digit (Supp. E): half real target digits, half random other digits.
    per_digit: int = 500
    # Q: Supp. E manipulated 1,000 of each machine's 5,000 digits per iteration. Our pool is
    # ten times smaller, and C only learns to resist its own shortcuts from many examples of
    # them, so Q is large (Q = 100 against 500: docs/cfl-log.md).
    manipulator: ManipulatorConfig = field(
        default_factory=lambda: ManipulatorConfig(
            iterations=5, queries=500, alpha=0.5, train=MNIST_TRAIN
        )
    )
    digits: tuple[int, ...] = tuple(range(N_CLASSES))

    def __post_init__(self) -> None:
        if not 0 < self.annotator_share < 1:
            raise ValueError(f"annotator_share must be in (0, 1), got {self.annotator_share}")
        if self.per_digit < 2:
            raise ValueError(f"per_digit must be at least 2, got {self.per_digit}")
        if not self.digits or len(set(self.digits)) != len(self.digits):
            raise ValueError(f"digits must be distinct and non-empty, got {self.digits}")
        for digit in self.digits:
            check_digit(digit)


@dataclass
class MnistCflResult:
    """What :func:`run_mnist_cfl` measured: Fig. 6 (top) per digit and averaged."""

    config: MnistCflConfig
    seed: int
    annotators: Annotators
    annotator_accuracy: float  # majority label == true label on the manipulators' real digits
    annotator_unsure: float  # share of "?" answers on those digits
    member_accuracy: list[float]
    annotator_index: torch.Tensor  # into mnist(seed): the digits the annotators trained on
    manipulator_index: torch.Tensor  # the manipulators' pool, disjoint from the above
    training_index: dict[int, torch.Tensor]  # per digit: its D_csl, a subset of the pool
    runs: dict[int, ManipulatorRun]  # per digit: Alg. 2's iterations (images, answers, nets)
    merr: dict[int, list[float]]  # Eq. 2 per digit per iteration
    mdist: dict[int, list[float]]  # Eq. 3
    mean_merr: list[float]  # per iteration, averaged over digits (Fig. 6 top)
    mean_mdist: list[float]
    annotator_seconds: float
    seconds: float


def run_mnist_cfl(config: MnistCflConfig, seed: int) -> MnistCflResult:
    """§4.2 / Supp. E: one ``d``-vs-all manipulator (Alg. 2) per digit, queried on annotators."""
    seed_everything(seed)
    start = time.perf_counter()
    digits = mnist(seed)
    annotator_index, manipulator_index = split_digits(digits.labels, config.annotator_share, seed)
    annotators = train_annotators(digits.subset(annotator_index), config.annotators, seed)
    annotator_seconds = time.perf_counter() - start
    heldout = annotators.score(digits.subset(manipulator_index))
    flat = digits.images.reshape(len(digits), N_PIXELS)
    training_index, runs = {}, {}
    for digit in progress(config.digits, desc="MNIST one-vs-all manipulators"):
        index = digit_training_set(
            digits.labels,
            manipulator_index,
            digit,
            config.per_digit,
            child_seed(seed, "digit-training-set", digit),
        )
        training_index[digit] = index
        runs[digit] = learn_manipulator(
            flat[index],
            (digits.labels[index] == digit).long(),
            one_vs_all_oracle(annotators, digit),
            config.manipulator,
            child_seed(seed, "manipulator", digit),
            binary=False,
            desc=f"Alg. 2, '{digit}' vs all",
        )
    merr = {d: run.merr for d, run in runs.items()}
    mdist = {d: run.mdist for d, run in runs.items()}
    return MnistCflResult(
        config=config,
        seed=seed,
        annotators=annotators,
        annotator_accuracy=heldout["accuracy"],
        annotator_unsure=heldout["unsure"],
        member_accuracy=heldout["member_accuracy"],
        annotator_index=annotator_index,
        manipulator_index=manipulator_index,
        training_index=training_index,
        runs=runs,
        merr=merr,
        mdist=mdist,
        mean_merr=torch.tensor(list(merr.values())).mean(dim=0).tolist(),
        mean_mdist=torch.tensor(list(mdist.values())).mean(dim=0).tolist(),
        annotator_seconds=annotator_seconds,
        seconds=time.perf_counter() - start,
    )


PANEL_POOL = 40  # held-out digits the panel offers


def train_mnist(config: MnistCflConfig, seed: int) -> dict:
    """Run §4.2 once and keep what the notebook and the panel need, in cacheable form."""
    result = run_mnist_cfl(config, seed)
    digits = mnist(seed)  # the same shuffle run_mnist_cfl indexes into
    pool = result.manipulator_index
    generator = torch.Generator().manual_seed(child_seed(seed, "chain-sources"))
    chains, sources = {}, {}
    for digit, run in result.runs.items():
        # Fig. 6 (bottom): a random digit of another class, pushed towards `digit`.
        others = pool[digits.labels[pool] != digit]
        source = others[torch.randint(len(others), (1,), generator=generator)].item()
        chains[str(digit)] = manipulator_chain(
            run, digits.images[source].reshape(-1), 1, config.manipulator.alpha
        )
        sources[str(digit)] = int(digits.labels[source])
    panel_pool = pool[:PANEL_POOL]
    return {
        "digits": torch.tensor(config.digits),
        "mean_merr": torch.tensor(result.mean_merr),
        "mean_mdist": torch.tensor(result.mean_mdist),
        "merr": {str(d): torch.tensor(v) for d, v in result.merr.items()},
        "annotator_accuracy": result.annotator_accuracy,
        "annotator_unsure": result.annotator_unsure,
        "chains": chains,
        "chain_sources": sources,
        "nets": {
            str(d): {k: v.cpu() for k, v in run.net.state_dict().items()}
            for d, run in result.runs.items()
        },
        "annotators": [
            {k: v.cpu() for k, v in m.state_dict().items()} for m in result.annotators.members
        ],
        "pool_images": digits.images[panel_pool].reshape(len(panel_pool), -1),
        "seconds": result.seconds,
    }


@dataclass(frozen=True)
class MnistRun:
    """§4.2 as the notebook and the panel use it: Fig. 6, the final Cs, the annotators."""

    digits: tuple[int, ...]  # the one-vs-all machines that were run
    merr: dict[int, torch.Tensor]  # Eq. 2 per digit per Alg. 2 iteration
    mean_merr: torch.Tensor  # per iteration, averaged over the digits (Fig. 6, top)
    mean_mdist: torch.Tensor  # Eq. 3, likewise
    annotator_accuracy: float  # on real held-out digits ("?" counts as wrong)
    annotator_unsure: float  # share of "?" answers on them
    chains: dict[int, torch.Tensor]  # Fig. 6 (bottom): (K + 2, 784) per target digit
    chain_sources: dict[int, int]  # the true digit each chain starts from
    nets: dict[int, CausalNet]  # the final C of each machine
    annotators: Annotators
    pool_images: torch.Tensor  # (PANEL_POOL, 784) held-out digits for the panel
    seconds: float  # when it was trained, not when it was read from the cache


def _mnist_run(config: MnistCflConfig, seed: int) -> MnistRun:
    entry = cached(
        "cfl-mnist",
        {"config": config, "seed": seed},
        lambda: train_mnist(config, seed),
        version=CODE_VERSION,
    )
    members = []
    for state in entry["annotators"]:
        member = annotator_cnn(config.annotators.channels)
        member.load_state_dict(state)
        members.append(member.eval())
    return MnistRun(
        digits=tuple(int(d) for d in entry["digits"]),
        merr={int(d): v for d, v in entry["merr"].items()},
        mean_merr=entry["mean_merr"],
        mean_mdist=entry["mean_mdist"],
        annotator_accuracy=float(entry["annotator_accuracy"]),
        annotator_unsure=float(entry["annotator_unsure"]),
        chains={int(d): v for d, v in entry["chains"].items()},
        chain_sources={int(d): int(v) for d, v in entry["chain_sources"].items()},
        nets={int(d): _causal_net(state) for d, state in entry["nets"].items()},
        annotators=Annotators(members, config.annotators.confidence),
        pool_images=entry["pool_images"],
        seconds=float(entry["seconds"]),
    )


# ------------------------------------------------------------------ the lifecycle


@dataclass(frozen=True)
class CflConfig:
    """Everything the CFL notebook runs, per preset."""

    grating: GratingConfig = field(default_factory=GratingConfig)
    grating_seeds: int = 1  # GRATING runs, each from its own child seed
    mnist: MnistCflConfig = field(default_factory=MnistCflConfig)

    def __post_init__(self) -> None:
        check_positive_int("grating_seeds", self.grating_seeds)


PRESETS = {
    # GRATING: §4.1's settings, one run. MNIST: three digits chosen from the paper, not from
    # our results: '7' (§4.2's question), '9' and '0' (Fig. 6's first row pushes a '9'
    # towards a '0'); three iterations, not two, for a falling MErr (docs/cfl-log.md).
    "quick": CflConfig(
        grating_seeds=1,
        mnist=MnistCflConfig(
            per_digit=400,
            manipulator=ManipulatorConfig(
                iterations=3, queries=400, alpha=0.5, train=replace(MNIST_TRAIN, hidden=100)
            ),
            digits=(0, 7, 9),
        ),
    ),
    # GRATING over three seeds. MNIST as Supp. E: all ten one-vs-all machines, "a few" (5)
    # iterations, C with 300 hidden units.
    "paper": CflConfig(grating_seeds=3, mnist=MnistCflConfig()),
}


def config(preset: str = "quick", **overrides: Any) -> CflConfig:
    """The preset's config with ``overrides`` (fields of :class:`CflConfig`) replaced."""
    return make_config(PRESETS, preset, overrides)


@dataclass(frozen=True)
class Result:
    """The trained CFL experiments of one (config, seed): what the notebook and panel use.

    Each part is trained on first access (or read from the cache), so the notebook
    reaches GRATING and MNIST section by section.
    """

    config: CflConfig
    seed: int

    @cached_property
    def grating(self) -> list[GratingRun]:
        """§4.1: ``config.grating_seeds`` runs, each from its own child seed."""
        return [
            _grating_run(self.config.grating, child_seed(self.seed, "grating", k))
            for k in range(self.config.grating_seeds)
        ]

    @cached_property
    def mnist(self) -> MnistRun:
        """§4.2: the one-vs-all manipulators, their annotators, and the panel's digits."""
        return _mnist_run(self.config.mnist, self.seed)


def result(config: CflConfig, seed: int = 0) -> Result:
    """The CFL experiments for (config, seed); each part is trained once, then cached."""
    return Result(check_config(config, CflConfig), check_seed(seed))
