"""The training loops of Lopez-Paz et al., "Discovering Causal Signals in Images" (CVPR 2017,
https://arxiv.org/abs/1605.08179): NCC on §3.1's synthetic pairs (§3.2, Eq. 4 minibatches,
§4.2's permuted copies), and the §4 study's scene network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from causalkit.core import child_seed, get_device, progress
from causalkit.ncc.model import NCC, SceneNet, standardise_columns
from causalkit.ncc.synthetic import GeneratorConfig, sample_pairs


@dataclass(frozen=True)
class TrainConfig:
    """§3.2 training: RMSProp, minibatches of 2n = 32 (Eq. 4), 10000 iterations."""

    iterations: int = 10_000
    batch_pairs: int = 16  # n of Eq. 4: 2n = 32 oriented samples per minibatch
    # "RMSProp with the default parameters": torch's default lr is 1e-2, Keras' 1e-3; 1e-3
    # trains steadier and scores higher on Tübingen (docs/ncc-log.md).
    learning_rate: float = 1e-3
    hidden: int = 100
    dropout: float = 0.25
    layers: int = 2
    pool_pairs: int = 10_000  # synthetic causal pairs drawn once; minibatches subsample them
    pool_points: int = 1000
    min_points: int = 100  # each minibatch uses m ~ U{min_points..max_points} points per pair
    max_points: int = 500
    val_pairs: int = 1000
    val_points: int = 500
    eval_every: int = 500
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

    def __post_init__(self) -> None:
        if not 10 <= self.min_points <= self.max_points <= self.pool_points:
            raise ValueError("need 10 <= min_points <= max_points <= pool_points")
        if min(self.iterations, self.batch_pairs, self.pool_pairs, self.val_pairs) < 1:
            raise ValueError("iterations, batch_pairs, pool_pairs and val_pairs must be positive")


def _minibatch(
    pool: torch.Tensor, config: TrainConfig, augment: bool, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4 minibatch (and §4.2's permuted copies): base samples and labels P(X → Y).

    Each base sample's transpose is scored too (in ``NCC.composite``), so the network
    sees the 2n = 32 oriented samples of Eq. 4 per step.
    """
    n, points = config.batch_pairs, pool.shape[1]
    m = int(torch.randint(config.min_points, config.max_points + 1, (1,), generator=generator))
    rows = torch.randint(len(pool), (n,), generator=generator)
    cols = torch.rand(n, points, generator=generator).argsort(dim=1)[:, :m]
    base = pool[rows[:, None], cols]  # (n, m, 2), X → Y
    flip = torch.rand(n, generator=generator) < 0.5  # present half as (y, x)
    base = torch.where(flip[:, None, None], base.flip(-1), base)
    labels = (~flip).float()  # target P(X → Y)
    if augment:
        perm = torch.rand(n, m, generator=generator).argsort(dim=1)
        shuffled = torch.stack([base[..., 0].gather(1, perm), base[..., 1]], -1)
        base = torch.cat([base, shuffled])
        labels = torch.cat([labels, torch.full((n,), 0.5)])
    return standardise_columns(base), labels


def validation_accuracy(model: NCC, pairs: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of P(X → Y) > ½ on held-out synthetic samples with label 0 or 1 (Eq. 2)."""
    keep = labels != 0.5
    p = torch.cat([model.probability_causal(chunk) for chunk in pairs[keep].split(500)])
    return float(((p > 0.5).float() == (1 - labels[keep]).to(p.device)).float().mean())


def train_ncc(
    config: TrainConfig, seed: int, augment: bool = False, desc: str = "NCC training"
) -> dict:
    """§3.2: train NCC on §3.1 data, returning weights, the training curve and timings."""
    device = get_device()
    torch.manual_seed(seed)
    start = time.perf_counter()
    pool, _ = sample_pairs(config.pool_pairs, config.pool_points, seed, config.generator)
    pool = pool[: config.pool_pairs]  # the X → Y half; minibatches orient it themselves
    val_pairs, val_labels = sample_pairs(
        config.val_pairs,
        config.val_points,
        child_seed(seed, "validation-pairs"),
        config.generator,
        augment,
    )
    generated = time.perf_counter() - start
    model = NCC(config.hidden, config.dropout, config.layers).to(device)
    optimiser = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    curve: dict[str, list[float]] = {"iteration": [], "loss": [], "val_accuracy": []}
    running, count = 0.0, 0
    bar = progress(range(1, config.iterations + 1), desc=desc)
    for it in bar:
        batch, labels = _minibatch(pool, config, augment, generator)
        model.train()
        p = model.composite(batch.to(device)).clamp(1e-6, 1 - 1e-6)
        target = labels.to(device)
        # Cross-entropy written out: F.binary_cross_entropy raises on NaN before we can say why.
        loss = -(target * p.log() + (1 - target) * (1 - p).log()).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"NCC training loss became {loss.item()} at iteration {it}")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        running, count = running + loss.item(), count + 1
        if it % config.eval_every == 0 or it == config.iterations:
            acc = validation_accuracy(model, val_pairs, val_labels)
            curve["iteration"].append(float(it))
            curve["loss"].append(running / count)
            curve["val_accuracy"].append(acc)
            bar.set_postfix(loss=f"{running / count:.3f}", val_acc=f"{acc:.3f}")
            running, count = 0.0, 0
    return {
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "curve": {k: torch.tensor(v) for k, v in curve.items()},
        "generate_seconds": generated,
        "train_seconds": time.perf_counter() - start - generated,
    }


def load_ncc(state: dict[str, torch.Tensor], config: TrainConfig) -> NCC:
    """A trained NCC from cached weights, on the compute device, in evaluation mode."""
    model = NCC(config.hidden, config.dropout, config.layers)
    model.load_state_dict(state)
    return model.to(get_device()).eval()


def train_scene_net(
    net: SceneNet,
    images: torch.Tensor,
    presence: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
) -> list[float]:
    """Multi-label training of f and c (§4.2) with a binary cross-entropy on the log-odds.

    ``net`` is trained in place on its device and left in evaluation mode; returns the mean
    loss of each epoch.
    """
    device = next(net.parameters()).device
    optimiser = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    targets = presence.float()
    losses = []
    steps = [(e, b) for e in range(epochs) for b in range(0, len(images), batch_size)]
    order = None
    total = 0.0
    for epoch, start in progress(steps, desc="scene CNN"):
        if start == 0:
            order = torch.randperm(len(images), generator=generator)
            net.train()
            total = 0.0
        batch = order[start : start + batch_size]
        _, logits = net(images[batch].to(device))
        loss = loss_fn(logits, targets[batch].to(device))
        if not torch.isfinite(loss):
            raise RuntimeError(f"scene CNN training diverged (loss {loss.item()}) in epoch {epoch}")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * len(batch)
        if start + batch_size >= len(images):
            losses.append(total / len(images))
    net.eval()
    return losses
