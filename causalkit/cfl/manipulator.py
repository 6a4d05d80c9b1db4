"""Alg. 1 (causal predictor training) and Alg. 2 (manipulator learning), with Eqs. 2-3.

Both algorithms are written once, for any image space: GRATING passes binary
images and the exact oracle of the generative model; MNIST passes grayscale
digits and a simulated annotator. Images enter flattened, shape (N, D), in [0, 1].
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from causalkit.core import get_device, progress

Oracle = Callable[[torch.Tensor], torch.Tensor]  # images (Q, D) -> causal class in {0, 1}


class CausalNet(nn.Module):
    """C : I -> [0, 1], the probability that an image is in causal class 1.

    §4.1: "a fully connected network with one hidden layer of 100 units".
    """

    def __init__(self, n_pixels: int, hidden: int = 100) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images).squeeze(-1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(images))


def _check_data(images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.ndim != 2:
        raise ValueError(f"images must be flattened to (N, D), got {tuple(images.shape)}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    if not torch.all((labels == 0) | (labels == 1)):
        raise ValueError("causal labels must be 0 or 1")


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 100
    steps: int = 400
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4


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


def _effect_gap(logits: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    # -log(1 - |C(j) - ĉ|): a monotone transform of the paper's |C(j) - ĉ|. The plain gap
    # is flat where C is confidently wrong, which is exactly where a search starts, so no
    # single step (gradient or pixel flip) would ever seem worth its distance.
    return nn.functional.binary_cross_entropy_with_logits(logits, goal, reduction="none")


def _check_search(originals: torch.Tensor, targets: torch.Tensor, alpha: float) -> None:
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if originals.ndim != 2 or targets.shape != (originals.shape[0],):
        raise ValueError("originals must be (Q, D) and targets (Q,)")


def relaxed_manipulation(
    net: CausalNet,
    originals: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    steps: int = 150,
    learning_rate: float = 0.1,
) -> torch.Tensor:
    """Alg. 2 step 6 on grayscale images: argmin_j (1 - α)|C(j) - ĉ| + α d(j, i), batched.

    d is the squared L2 distance divided by the number of pixels, so α does not
    depend on the image size. The search runs over j = sigmoid(z) in [0, 1]^D,
    started at the original image, by Adam on z, and returns, per image, the best
    candidate it met under the paper's objective: a local minimum, as in the paper
    ("up to local minima"). Binary images take :func:`greedy_binary_manipulation`.
    """
    _check_search(originals, targets, alpha)
    device = next(net.parameters()).device
    start, goal = originals.to(device), targets.float().to(device)
    z = torch.logit(start.clamp(0.02, 0.98)).detach().requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=learning_rate)
    # The iterates are not monotone in the paper's objective, so keep, per image, the best
    # candidate seen (the original itself to begin with).
    best = start.clone()
    best_objective = (1 - alpha) * (net(start) - goal).abs().detach()
    for p in net.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            candidate = torch.sigmoid(z)
            logits = net.logits(candidate)
            distance = ((candidate - start) ** 2).mean(dim=1)
            with torch.no_grad():
                objective = (1 - alpha) * (torch.sigmoid(logits) - goal).abs() + alpha * distance
                improved = objective < best_objective
                best[improved] = candidate[improved].detach()
                best_objective = torch.where(improved, objective, best_objective)
            loss = ((1 - alpha) * _effect_gap(logits, goal) + alpha * distance).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        for p in net.parameters():
            p.requires_grad_(True)
    return best.cpu()


@torch.no_grad()
def greedy_binary_manipulation(
    net: CausalNet,
    originals: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    max_flips: int = 40,
) -> torch.Tensor:
    """Alg. 2 step 6 on binary images: flip, one at a time, the pixel that helps most.

    Each step evaluates every single-pixel flip of every image exactly (one batched
    forward pass) and applies the best one while it lowers the objective
    (1 - α) gap(C(j), ĉ) + α d(j, i) / D, d the squared L2 distance, which for binary
    images is the number of flipped pixels. Stops at a local minimum.
    """
    _check_search(originals, targets, alpha)
    device = next(net.parameters()).device
    start, goal = originals.to(device), targets.float().to(device)
    q, d = start.shape
    eye = torch.eye(d, device=device, dtype=torch.bool)
    current = start.clone()
    score = (1 - alpha) * _effect_gap(net.logits(current), goal)
    for _ in range(max_flips):
        flipped = torch.where(eye, 1 - current[:, None, :], current[:, None, :])  # (Q, D, D)
        gap = _effect_gap(net.logits(flipped.reshape(q * d, d)), goal.repeat_interleave(d))
        distance = (flipped != start[:, None, :]).float().mean(dim=2)
        objective = (1 - alpha) * gap.reshape(q, d) + alpha * distance
        best, pixel = objective.min(dim=1)
        better = best < score - 1e-9
        if not better.any():
            break
        rows = torch.nonzero(better).squeeze(1)
        current[rows, pixel[rows]] = 1 - current[rows, pixel[rows]]
        score = torch.where(better, best, score)
    return current.cpu()


def manipulation_error(answers: torch.Tensor, targets: torch.Tensor) -> float:
    """Eq. 2: MErr = (1/Q) Σ |A(î) - ĉ|."""
    return float((answers.float() - targets.float()).abs().mean())


def manipulation_distance(originals: torch.Tensor, manipulated: torch.Tensor) -> float:
    """Eq. 3: MDist = (1/Q) Σ d(i, î), with d the squared L2 distance (flipped pixels if binary)."""
    return float(((originals - manipulated) ** 2).sum(dim=1).mean())


@dataclass(frozen=True)
class ManipulatorConfig:
    iterations: int = 20
    queries: int = 100  # Q
    alpha: float = 0.5
    search_steps: int = 150
    search_learning_rate: float = 0.1
    train: TrainConfig = field(default_factory=TrainConfig)


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
    if config.queries < 1 or config.iterations < 1:
        raise ValueError("iterations and queries must be positive")
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    data, targets_all = images.clone(), labels.long().clone()
    history = []
    n_observed = len(images)
    for step in progress(range(config.iterations), desc=desc):
        net = train_causal_net(
            data, targets_all, config.train, seed + step, _weights(n_observed, len(data))
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
        data, targets_all, config.train, seed + config.iterations, _weights(n_observed, len(data))
    )
    return ManipulatorRun(history, final, data, targets_all, time.perf_counter() - start)
