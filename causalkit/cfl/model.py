"""The causal network C and the manipulations of Alg. 2, with Eqs. 2-3 (Chalupka et al., 2015).

C maps an image to the probability of causal class 1 (§3.2, §4.1). Alg. 2 step 6 searches,
for an image i and a target ĉ, the image j minimising (1 - α)|C(j) - ĉ| + α d(j, i): once
over binary images (GRATING, pixel by pixel) and once over grayscale images (MNIST, by
gradient). Eqs. 2-3 score a batch of manipulations. Images enter flattened, shape (N, D),
in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

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
