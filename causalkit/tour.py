"""The welcome notebook (``notebooks/00_tour.ipynb``): two small examples, and the lifecycle
every paper shares (``PRESETS``, ``config``, ``result``, ``Result``) at its smallest.

1. *Seeing is not doing* (the barometer problem that opens the CFL paper): air
   pressure P causes both the barometer reading B and a storm S. Reading a low B
   makes a storm likely; forcing the needle down, do(B = b), changes nothing.
   Both probabilities have closed forms, checked here against simulation.
2. *A model trained once*: softmax regression on the shipped MNIST digits, cached
   by config so that a second run of the notebook reuses the weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import ndtr
from torch import nn

from causalkit.core import (
    cached,
    check_config,
    check_seed,
    code_version,
    get_device,
    make_config,
    progress,
    seed_everything,
)
from causalkit.core.validate import check_positive_int
from causalkit.data import Digits, mnist, stratified_split

# ---------------------------------------------------------------- seeing vs doing


@dataclass(frozen=True)
class BarometerWorld:
    """P ~ N(0, 1);  B = P + noise_b·ε_B;  S = 1[P + noise_s·ε_S < threshold]."""

    noise_b: float = 0.5
    noise_s: float = 0.5
    threshold: float = -1.0

    def __post_init__(self) -> None:
        if not (self.noise_b > 0 and self.noise_s > 0):
            raise ValueError(f"noise levels must be positive, got {self.noise_b}, {self.noise_s}")


def storm_given_seen(world: BarometerWorld, reading: np.ndarray | float) -> np.ndarray:
    """P(S = 1 | B = b): Gaussian conditioning of P on the reading, then the storm threshold.

    P | B = b ~ N(b / (1 + σ_b²), σ_b² / (1 + σ_b²)), so P + σ_s ε_S | B = b is Gaussian too.
    """
    shrink = 1.0 / (1.0 + world.noise_b**2)
    mean = np.asarray(reading, dtype=float) * shrink
    sd = math.sqrt(world.noise_b**2 * shrink + world.noise_s**2)
    return ndtr((world.threshold - mean) / sd)


def storm_given_done(world: BarometerWorld, reading: np.ndarray | float) -> np.ndarray:
    """P(S = 1 | do(B = b)) = P(S = 1): setting the needle leaves pressure, hence storms, alone."""
    sd = math.sqrt(1.0 + world.noise_s**2)
    return np.full(np.shape(reading), ndtr(world.threshold / sd))


def sample_world(
    world: BarometerWorld, n: int, rng: np.random.Generator, do_reading: float | None = None
) -> dict[str, np.ndarray]:
    """Draw ``n`` samples of (P, B, S); ``do_reading`` replaces B's mechanism by a constant."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    pressure = rng.standard_normal(n)
    if do_reading is None:
        reading = pressure + world.noise_b * rng.standard_normal(n)
    else:
        reading = np.full(n, float(do_reading))
    storm = (pressure + world.noise_s * rng.standard_normal(n) < world.threshold).astype(float)
    return {"pressure": pressure, "reading": reading, "storm": storm}


def monte_carlo_storm(
    world: BarometerWorld, reading: float, n: int, rng: np.random.Generator, width: float = 0.05
) -> tuple[float, float]:
    """Simulated (seeing, doing) storm probabilities at one reading.

    Seeing keeps the observational samples whose reading lies within ``width`` of b;
    doing re-runs the world with B's mechanism replaced.
    """
    observed = sample_world(world, n, rng)
    near = np.abs(observed["reading"] - reading) < width
    if near.sum() < 100:
        raise ValueError(f"only {near.sum()} samples near reading {reading}; raise n or width")
    done = sample_world(world, n, rng, do_reading=reading)
    return float(observed["storm"][near].mean()), float(done["storm"].mean())


# ---------------------------------------------------------------- a cached model


@dataclass(frozen=True)
class TourConfig:
    epochs: int = 8
    batch_size: int = 64
    learning_rate: float = 0.5
    test_fraction: float = 0.2
    train_fraction: float = 1.0  # share of the training split actually used
    mc_samples: int = 400_000

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "mc_samples"):
            check_positive_int(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction!r}")
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must be in (0, 1], got {self.train_fraction!r}")


PRESETS = {
    "quick": TourConfig(),
    "paper": TourConfig(epochs=30, mc_samples=4_000_000),
}
CODE_VERSION = code_version("causalkit.tour")  # any edit to the code retrains


def config(preset: str = "quick", **overrides: Any) -> TourConfig:
    """The preset's config with ``overrides`` (fields of :class:`TourConfig`) replaced."""
    return make_config(PRESETS, preset, overrides)


def digit_splits(seed: int, test_fraction: float) -> tuple[Digits, Digits]:
    digits = mnist(seed)
    train, test = stratified_split(digits.labels, (1 - test_fraction, test_fraction), seed)
    return digits.subset(train), digits.subset(test)


def train_softmax(config: TourConfig, seed: int) -> dict[str, torch.Tensor | float]:
    """Multinomial logistic regression by minibatch SGD; weights, per-epoch mean loss, time."""
    seed_everything(seed)
    device = get_device()
    train, _ = digit_splits(seed, config.test_fraction)
    keep = max(10, int(len(train) * config.train_fraction))
    x = train.images[:keep].reshape(keep, -1).to(device)
    y = train.labels[:keep].to(device)
    model = nn.Linear(28 * 28, 10).to(device)
    optimiser = torch.optim.SGD(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    start = time.perf_counter()
    for _ in progress(range(config.epochs), desc="softmax regression"):
        order = torch.randperm(keep, generator=generator).to(device)
        epoch_loss = torch.zeros((), device=device)
        for batch in order.split(config.batch_size):
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            epoch_loss += loss.detach() * len(batch)
        mean_loss = (epoch_loss / keep).item()
        if not math.isfinite(mean_loss):
            raise FloatingPointError("softmax regression diverged (loss is not finite)")
        losses.append(mean_loss)
    return {
        "state": {k: v.cpu() for k, v in model.state_dict().items()},
        "losses": torch.tensor(losses),
        "train_seconds": time.perf_counter() - start,
    }


def softmax_accuracy(state: dict[str, torch.Tensor], digits: Digits) -> float:
    """Share of ``digits`` that the softmax regression classifies correctly."""
    logits = digits.images.reshape(len(digits), -1) @ state["weight"].T + state["bias"]
    return float((logits.argmax(1) == digits.labels).float().mean())


@dataclass(frozen=True)
class Result:
    """The tour's trained softmax regression: what the notebook and its exercises use."""

    config: TourConfig
    seed: int
    state: dict[str, torch.Tensor]
    losses: torch.Tensor  # mean cross-entropy per epoch
    train_seconds: float  # when it was trained, not when it was read from the cache

    def splits(self) -> tuple[Digits, Digits]:
        """The (train, test) digits this model was trained and is tested on."""
        return digit_splits(self.seed, self.config.test_fraction)

    def accuracy(self, digits: Digits) -> float:
        return softmax_accuracy(self.state, digits)


def result(config: TourConfig, seed: int = 0) -> Result:
    """:func:`train_softmax`, trained once per (config, seed) and then read from the cache."""
    config, seed = check_config(config, TourConfig), check_seed(seed)
    trained = cached(
        "tour-softmax",
        {"config": config, "seed": seed},
        lambda: train_softmax(config, seed),
        version=CODE_VERSION,
    )
    return Result(
        config, seed, trained["state"], trained["losses"], float(trained["train_seconds"])
    )
