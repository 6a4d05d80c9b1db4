"""The data of §4: real digits split three ways, and the ten mechanisms of App. C acting on them.

Digits are zero-padded from 28x28 to 32x32 and scaled to [0, 1] *before* any
mechanism is applied (§4), so a 4-pixel translation pushes ink into the padding
rather than off the image. Images are (N, 1, 32, 32) float tensors throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from causalkit.data import mnist, stratified_split

SIDE = 32
SHIFT = 4  # App. C: translations by 4 pixels
NOISE_VARIANCE = 0.25  # App. C: Gaussian noise of variance 0.25, then clamped to [0, 1]

# (rows, columns) each translation moves the image by; "up" moves ink to smaller row indices.
TRANSLATIONS: dict[str, tuple[int, int]] = {
    "up": (-SHIFT, 0),
    "down": (SHIFT, 0),
    "left": (0, -SHIFT),
    "right": (0, SHIFT),
    "up-left": (-SHIFT, -SHIFT),
    "up-right": (-SHIFT, SHIFT),
    "down-left": (SHIFT, -SHIFT),
    "down-right": (SHIFT, SHIFT),
}
MECHANISMS: tuple[str, ...] = (*TRANSLATIONS, "invert", "noise")


def check_images(images: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is a float (N, 1, 32, 32) tensor in [0, 1]."""
    if images.ndim != 4 or images.shape[1:] != (1, SIDE, SIDE):
        raise ValueError(
            f"images must have shape (N, 1, {SIDE}, {SIDE}), got {tuple(images.shape)}"
        )
    if not images.dtype.is_floating_point:
        raise ValueError(f"images must be floating point, got {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("pixel values must lie in [0, 1] (§4 scales digits before any mechanism)")


def pad_to_32(images: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) digits in [0, 1] -> (N, 1, 32, 32), zero-padded by 2 pixels on each side (§4)."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected (N, 28, 28) digits, got {tuple(images.shape)}")
    return F.pad(images, (2, 2, 2, 2))[:, None]


def mechanism_index(name: str) -> int:
    """Position of mechanism ``name`` in :data:`MECHANISMS`, or a ``ValueError`` listing them."""
    try:
        return MECHANISMS.index(name)
    except ValueError:
        raise ValueError(
            f"unknown mechanism {name!r}; choose one of {', '.join(MECHANISMS)}"
        ) from None


def translate(images: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    """Shift every image by (rows, columns) pixels, filling with zeros (ink that leaves is lost)."""
    if max(abs(rows), abs(columns)) >= images.shape[-1]:
        raise ValueError(
            f"a shift of ({rows}, {columns}) leaves nothing of a {images.shape[-1]}-pixel image"
        )
    shifted = torch.roll(images, shifts=(rows, columns), dims=(-2, -1))
    # Blank what wrapped round: a translation is not a rotation of the torus.
    if rows > 0:
        shifted[..., :rows, :] = 0
    elif rows < 0:
        shifted[..., rows:, :] = 0
    if columns > 0:
        shifted[..., :, :columns] = 0
    elif columns < 0:
        shifted[..., :, columns:] = 0
    return shifted


def invert(images: torch.Tensor) -> torch.Tensor:
    """Contrast inversion of App. C: each pixel v in [0, 1] becomes 1 - v (an involution)."""
    return 1.0 - images


def add_noise(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """App. C: add N(0, 0.25) noise to every pixel, then clamp back to [0, 1]."""
    noise = torch.randn(images.shape, generator=generator, device="cpu").to(images.device)
    return (images + NOISE_VARIANCE**0.5 * noise).clamp(0, 1)


def apply_mechanism(
    images: torch.Tensor, name: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the mechanism called ``name`` to every image of the (N, 1, 32, 32) batch."""
    check_images(images)
    mechanism_index(name)
    return _apply(images, name, generator)


def _apply(images: torch.Tensor, name: str, generator: torch.Generator | None) -> torch.Tensor:
    # Unchecked: callers have validated the batch and the name once already.
    if name in TRANSLATIONS:
        return translate(images, *TRANSLATIONS[name])
    return invert(images) if name == "invert" else add_noise(images, generator)


def apply_mechanisms(
    images: torch.Tensor, mechanisms: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply mechanism ``mechanisms[i]`` (an index into :data:`MECHANISMS`) to image i."""
    check_images(images)
    if mechanisms.shape != (images.shape[0],) or mechanisms.dtype.is_floating_point:
        raise ValueError(
            f"mechanisms must be ({images.shape[0]},) integer indices, got "
            f"{mechanisms.dtype} {tuple(mechanisms.shape)}"
        )
    if mechanisms.numel() and (mechanisms.min() < 0 or mechanisms.max() >= len(MECHANISMS)):
        raise ValueError(f"mechanism indices must lie in 0..{len(MECHANISMS) - 1}")
    out = torch.empty_like(images)
    for index, name in enumerate(MECHANISMS):
        chosen = (mechanisms == index).to(images.device)
        if chosen.any():
            out[chosen] = _apply(images[chosen], name, generator)
    return out


def random_mechanisms(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` mechanism indices drawn uniformly; the learner is never told which acted."""
    return torch.randint(len(MECHANISMS), (n,), generator=generator)


@dataclass(frozen=True)
class IcmData:
    """Three disjoint sets of real digits, padded to 32x32 (§4).

    ``canonical`` is the sample from P the discriminator sees as real. ``hidden`` are
    the digits the learner only ever sees *transformed*: none of them appears in
    ``canonical``, so no transformed example has its original to be matched against
    (the property §4 gets by halving MNIST's training set). ``test`` is held out for
    every measurement.
    """

    canonical: torch.Tensor
    canonical_labels: torch.Tensor
    hidden: torch.Tensor
    hidden_labels: torch.Tensor  # for the measuring classifier only; Alg. 1 never reads them
    test: torch.Tensor
    test_labels: torch.Tensor


def icm_data(seed: int = 0, fractions: tuple[float, float, float] = (0.4, 0.4, 0.2)) -> IcmData:
    """Split the 5,000 shipped digits (stratified) into canonical, hidden and test parts."""
    digits = mnist(seed)
    canonical, hidden, test = stratified_split(digits.labels, fractions, seed)
    images = pad_to_32(digits.images)
    labels = digits.labels
    return IcmData(
        images[canonical],
        labels[canonical],
        images[hidden],
        labels[hidden],
        images[test],
        labels[test],
    )


def draw_transformed(
    hidden: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` examples of D_Q: random hidden digits, each through a random mechanism.

    The mechanism is drawn afresh at every draw. §4 transforms 30,000 digits once;
    with 2,000 hidden digits here, re-drawing gives the experts the variety of a large
    D_Q while keeping what matters: the learner never sees a transformed digit's original.
    Returns the images and the mechanism indices (for measuring only; training ignores them).
    """
    mechanisms = random_mechanisms(n, generator)
    picked = hidden[torch.randint(len(hidden), (n,), generator=generator)]
    return apply_mechanisms(picked, mechanisms, generator), mechanisms
