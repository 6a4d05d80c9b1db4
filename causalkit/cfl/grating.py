"""The GRATING world of §1.2 and §4.1 (Fig. 1): bars caused by hidden coins.

Chalupka, Perona, Eberhardt, "Visual Causal Feature Learning", UAI 2015.

Two fair coins H1, H2. H1 = 1 puts one vertical bar (a full column of black
pixels) at a random column, H2 = 1 one horizontal bar at a random row; about 3 %
of the remaining pixels are noise. The behaviour T depends on the image only
through the h-bar, and on the hidden H1 directly:

    P(T = 1 | h-bar, H1)      H1 = 0   H1 = 1
        no h-bar               0.10     0.45
        h-bar                  0.55     0.90

The paper only says that T is more likely when H1 = 1 and when there is an h-bar,
and that the v-bar is about as predictive as the h-bar. We chose the table so
that it is (v-bar effect 0.35, h-bar effect 0.45) without being exactly so: equal
effects would make the "v-bar only" and "h-bar only" images observationally
identical, one of the measure-zero coincidences the CCT excludes (Supplement B).

Observationally H1 = 1 exactly when the image has a v-bar, so P(T | I) has four
values (the observational partition), while a manipulation man(I = i) leaves H1
to its coin, so P(T | man(I)) has two: the h-bar is the visual cause C, the v-bar
the spurious correlate S (Defs. 4 and 6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from causalkit.cfl.partitions import CCT_TOLERANCE, partition, relation


@dataclass(frozen=True)
class GratingWorld:
    side: int = 10
    noise: float = 0.03
    # P(T = 1 | h-bar, H1), indexed [h-bar][H1]
    behaviour: tuple[tuple[float, float], tuple[float, float]] = ((0.10, 0.45), (0.55, 0.90))

    def __post_init__(self) -> None:
        if self.side < 3:
            raise ValueError(f"side must be at least 3, got {self.side}")
        if not 0 <= self.noise < 0.5:
            raise ValueError(f"noise must be in [0, 0.5), got {self.noise}")
        table = np.asarray(self.behaviour, dtype=float)
        if table.shape != (2, 2) or (table < 0).any() or (table > 1).any():
            raise ValueError(
                f"behaviour must be a 2x2 table of probabilities, got {self.behaviour}"
            )


def _check_images(images: torch.Tensor, side: int | None = None) -> torch.Tensor:
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must have shape (N, side, side), got {tuple(images.shape)}")
    if side is not None and images.shape[1] != side:
        raise ValueError(f"images must be {side}x{side}, got {images.shape[1]}x{images.shape[2]}")
    if not torch.all((images == 0) | (images == 1)):
        raise ValueError("GRATING images are binary: every pixel must be 0 or 1")
    return images


def has_hbar(images: torch.Tensor) -> torch.Tensor:
    """1 where some row is entirely black (the paper's footnote 1), else 0."""
    return (_check_images(images) == 1).all(dim=2).any(dim=1).long()


def has_vbar(images: torch.Tensor) -> torch.Tensor:
    """1 where some column is entirely black."""
    return (_check_images(images) == 1).all(dim=1).any(dim=1).long()


def full_columns(images: torch.Tensor) -> torch.Tensor:
    """(N, side) mask of the complete columns: where the v-bars are."""
    return (_check_images(images) == 1).all(dim=1)


@dataclass(frozen=True)
class GratingSample:
    images: torch.Tensor  # (N, side, side) float32 in {0, 1}
    h1: torch.Tensor  # (N,) the hidden coins
    h2: torch.Tensor
    behaviour: torch.Tensor  # (N,) T drawn from P(T | h-bar, H1)


def sample_grating(world: GratingWorld, n: int, rng: np.random.Generator) -> GratingSample:
    """Draw ``n`` observations (H1, H2, I, T) from the generative model of Fig. 1."""
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    s = world.side
    h1, h2 = rng.integers(0, 2, n), rng.integers(0, 2, n)
    images = (rng.random((n, s, s)) < world.noise).astype(np.float32)
    # Noise must not complete a bar by itself, or an image could show a bar no coin put there.
    images[:, :, -1] *= images[:, :, :-1].prod(axis=2, keepdims=True)[:, :, 0] == 0
    images[:, -1, :] *= images[:, :-1, :].prod(axis=1) == 0
    rows, cols = np.arange(n), rng.integers(0, s, n)
    images[rows[h1 == 1], :, cols[h1 == 1]] = 1.0
    images[rows[h2 == 1], rng.integers(0, s, n)[h2 == 1], :] = 1.0
    table = np.asarray(world.behaviour)
    behaviour = (rng.random(n) < table[h2, h1]).astype(np.int64)
    return GratingSample(
        torch.from_numpy(images),
        torch.from_numpy(h1),
        torch.from_numpy(h2),
        torch.from_numpy(behaviour),
    )


def observational_prob(world: GratingWorld, images: torch.Tensor) -> torch.Tensor:
    """P(T = 1 | I = i): observing a v-bar reveals H1 = 1 (Def. 1)."""
    table = torch.tensor(world.behaviour, dtype=torch.float64)
    return table[has_hbar(images), has_vbar(images)]


def causal_prob(world: GratingWorld, images: torch.Tensor) -> torch.Tensor:
    """P(T = 1 | man(I = i)) = Σ_h1 P(T = 1 | h-bar(i), h1) P(h1) (Def. 2): the oracle A."""
    table = torch.tensor(world.behaviour, dtype=torch.float64)
    return table.mean(dim=1)[has_hbar(images)]


def causal_class(world: GratingWorld, images: torch.Tensor) -> torch.Tensor:
    """Index of the causal class (Def. 3): 1 for the higher P(T | man(I)), i.e. an h-bar."""
    levels = torch.tensor(world.behaviour, dtype=torch.float64).mean(dim=1)
    probs = causal_prob(world, images)
    return (
        (probs == levels.max()).long() if levels[0] != levels[1] else torch.zeros_like(probs).long()
    )


def behaviour_after_manipulation(
    world: GratingWorld, images: torch.Tensor, h1: torch.Tensor, rng: np.random.Generator
) -> torch.Tensor:
    """Draw T after man(I = i) (Def. 2): the new pixels, but the hidden H1 as it was."""
    if h1.shape != (images.shape[0],):
        raise ValueError("need one hidden H1 per image")
    table = torch.tensor(world.behaviour, dtype=torch.float64)
    p = table[has_hbar(images), h1.long()]
    return torch.from_numpy(rng.random(len(p)) < p.numpy()).long()


def feature_representatives(world: GratingWorld) -> dict[tuple[int, int], torch.Tensor]:
    """One noise-free image for each (h-bar, v-bar) combination, for exact partitions."""
    s = world.side
    images = {}
    for hbar in (0, 1):
        for vbar in (0, 1):
            image = torch.zeros(s, s)
            if hbar:
                image[s // 3, :] = 1
            if vbar:
                image[:, (2 * s) // 3] = 1
            images[(hbar, vbar)] = image
    return images


def grating_partitions(world: GratingWorld) -> dict[str, object]:
    """Π_o and Π_c over GRATING's four kinds of image, and how they relate (Thm. 5).

    Every image's P(T | I) and P(T | man(I)) depend only on whether it has an h-bar
    and a v-bar, so four representatives carry the whole partition structure.
    """
    kinds = list(feature_representatives(world))
    images = torch.stack(list(feature_representatives(world).values()))
    observational = observational_prob(world, images).numpy()
    causal = causal_prob(world, images).numpy()
    obs_partition = partition(observational, CCT_TOLERANCE)
    causal_partition = partition(causal, CCT_TOLERANCE)
    return {
        "kinds": kinds,  # (h-bar, v-bar) per index
        "observational": observational,
        "causal": causal,
        "observational_partition": obs_partition,
        "causal_partition": causal_partition,
        "relation": relation(obs_partition, causal_partition),
    }
