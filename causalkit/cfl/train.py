"""Alg. 1 (causal labels, then the causal network C) and Alg. 2 (manipulator learning).

Chalupka, Perona, Eberhardt, "Visual Causal Feature Learning", UAI 2015, §3. Both
algorithms are written once, for any image space: GRATING passes binary images and the
exact oracle of the generative model; MNIST passes grayscale digits and the simulated
annotators. Images enter flattened, shape (N, D), in [0, 1].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from causalkit.cfl.model import (
    CausalNet,
    Oracle,
    greedy_binary_manipulation,
    manipulation_distance,
    manipulation_error,
    relaxed_manipulation,
)
from causalkit.core import child_seed, get_device, progress
from causalkit.core.validate import check_non_negative, check_positive_int


def _check_rate(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How C is fitted to the causal data (Alg. 1 step 5, Alg. 2 step 2)."""

    hidden: int = 100
    steps: int = 400
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("hidden", "steps", "batch_size"):
            check_positive_int(name, getattr(self, name))
        _check_rate("learning_rate", self.learning_rate)
        check_non_negative("weight_decay", self.weight_decay)


@dataclass(frozen=True)
class ManipulatorConfig:
    """Alg. 2's settings: K iterations of Q queries, the trade-off α, the search, C's fit."""

    iterations: int = 20
    queries: int = 100  # Q
    alpha: float = 0.5
    search_steps: int = 150
    search_learning_rate: float = 0.1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        for name in ("iterations", "queries", "search_steps"):
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")
        _check_rate("search_learning_rate", self.search_learning_rate)


def _check_data(images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.ndim != 2:
        raise ValueError(f"images must be flattened to (N, D), got {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    if not torch.all((labels == 0) | (labels == 1)):
        raise ValueError("causal labels must be 0 or 1")


def train_causal_net(
    images: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    seed: int,
    weights: torch.Tensor | None = None,
) -> CausalNet:
    """Alg. 1 step 5 / Alg. 2 step 2: fit C to the causal data by cross-entropy (Adam).

    ``weights`` (optional, one per image) set how often each image is drawn into a batch.
    """
    _check_data(images, labels)
    if weights is not None and (weights.shape != labels.shape or (weights < 0).any()):
        raise ValueError("weights must be non-negative, one per image")
    device = get_device()
    torch.manual_seed(seed)
    net = CausalNet(images.shape[1], config.hidden).to(device)
    optimiser = torch.optim.Adam(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x, y = images.to(device), labels.float().to(device)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(config.steps):
        size = min(config.batch_size, len(x))
        if weights is None:
            batch = torch.randint(len(x), (size,), generator=generator)
        else:
            batch = torch.multinomial(weights, size, replacement=True, generator=generator)
        loss = nn.functional.binary_cross_entropy_with_logits(net.logits(x[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    if not torch.isfinite(loss):
        raise FloatingPointError("causal network training diverged (loss is not finite)")
    return net.eval()


def causal_labels_from_observations(
    images: torch.Tensor, observational_probs: torch.Tensor, oracle: Oracle
) -> tuple[torch.Tensor, torch.Tensor]:
    """Alg. 1 steps 1-4: one experiment per observational class labels the whole class.

    By the CCT the causal class is constant on each observational class, so the
    oracle is asked about one representative of each. Returns the causal labels of
    all images and the indices of the representatives that were queried.
    """
    if observational_probs.shape != (images.shape[0],):
        raise ValueError("need one observational probability per image")
    classes, members = torch.unique(observational_probs, return_inverse=True)
    representatives = torch.stack([torch.nonzero(members == m)[0, 0] for m in range(len(classes))])
    answers = oracle(images[representatives])
    return answers[members].long(), representatives


@dataclass
class Iteration:
    """One pass of Alg. 2's outer loop: the manipulations made and what the oracle said."""

    originals: torch.Tensor
    manipulated: torch.Tensor
    targets: torch.Tensor
    answers: torch.Tensor
    merr: float
    mdist: float
    net: CausalNet  # the C this iteration's manipulations were searched with


@dataclass
class ManipulatorRun:
    iterations: list[Iteration]
    net: CausalNet  # trained on the final causal data set
    images: torch.Tensor  # the final D_csl
    labels: torch.Tensor
    seconds: float

    @property
    def merr(self) -> list[float]:
        return [it.merr for it in self.iterations]

    @property
    def mdist(self) -> list[float]:
        return [it.mdist for it in self.iterations]


def _weights(n_observed: int, n_total: int) -> torch.Tensor:
    """Half of every batch from the observational data, half from the experiments.

    The manipulated images are few (Q per iteration) among thousands of observed
    ones, yet they are the informative ones: the near misses that fooled the last C.
    Drawn uniformly they would barely move the next C.
    """
    weights = torch.full((n_total,), 0.5 / n_observed)
    if n_total > n_observed:
        weights[n_observed:] = 0.5 / (n_total - n_observed)
    return weights


def learn_manipulator(
    images: torch.Tensor,
    labels: torch.Tensor,
    oracle: Oracle,
    config: ManipulatorConfig,
    seed: int,
    binary: bool = True,
    desc: str = "Alg. 2",
) -> ManipulatorRun:
    """Alg. 2: retrain C, manipulate Q random images towards the other class, ask the oracle.

    The oracle's answers join the causal data set D_csl, so each iteration's C is
    trained on the manipulations that fooled the previous one.
    """
    _check_data(images, labels)
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    data, targets_all = images.clone(), labels.long().clone()
    history = []
    n_observed = len(images)
    for step in progress(range(config.iterations), desc=desc):
        net = train_causal_net(
            data,
            targets_all,
            config.train,
            child_seed(seed, "causal-net", step),
            _weights(n_observed, len(data)),
        )
        chosen = torch.randperm(len(data), generator=generator)[: config.queries]
        originals, goal = data[chosen], 1 - targets_all[chosen]
        if binary:
            manipulated = greedy_binary_manipulation(net, originals, goal, config.alpha)
        else:
            manipulated = relaxed_manipulation(
                net,
                originals,
                goal,
                config.alpha,
                config.search_steps,
                config.search_learning_rate,
            )
        answers = oracle(manipulated).long()
        history.append(
            Iteration(
                originals,
                manipulated,
                goal,
                answers,
                manipulation_error(answers, goal),
                manipulation_distance(originals, manipulated),
                net,
            )
        )
        data = torch.cat([data, manipulated])
        targets_all = torch.cat([targets_all, answers])
    final = train_causal_net(
        data,
        targets_all,
        config.train,
        child_seed(seed, "causal-net", "final"),
        _weights(n_observed, len(data)),
    )
    return ManipulatorRun(history, final, data, targets_all, time.perf_counter() - start)
