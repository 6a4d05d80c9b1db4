"""The three MNIST variants of App. A.2 of the CGN paper (Sauer & Geiger, ICLR 2021,
arXiv:2101.06046), built from the shipped digits.

*Colored*, *double-colored* and *Wildlife* MNIST encode the label in the digit's shape,
in its foreground color or texture and (double-colored, Wildlife) in its background
color or texture. In training the spurious cues agree with the label (§4: "a
correlation strength of at least 90 %"); in the test set they are random, so only the
shape still predicts the label (Table 2).

Every image is the composer of Eq. 2, x = m ⊙ f + (1 − m) ⊙ b, with the padded digit's
binary mask m, a jittered class color or a crop of a class texture as f, and black, a
second palette's color or a second texture as b. The 5,000 digits of
:func:`causalkit.data.mnist` are cut once into 4,000 training and 1,000 test digits.
The textures stand in for the DTD photographs of App. A.2, which cannot be had
offline: :class:`TextureFamily` paints them. Why each choice (padding, mask threshold,
σ, palettes, textures, the correlation rule) is what it is: ``docs/cgn-log.md``.
"""

from __future__ import annotations

import colorsys
import math
import numbers
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from causalkit.core import child_seed
from causalkit.core.validate import check_int
from causalkit.data import mnist, stratified_split

VARIANTS: tuple[str, ...] = ("colored", "double_colored", "wildlife")
SPLITS: tuple[str, ...] = ("train", "test")
TEXTURE_KINDS: tuple[str, ...] = ("striped", "veiny")

N_CLASSES = 10
SIDE = 32  # CGN image side (App. A.2: "we sample a 32x32 patch")
PAD = (SIDE - 28) // 2
TEXTURE_SIDE = 128  # each family's full texture image, from which crops are cut
MASK_THRESHOLD = 0.1
COLOR_STD = 0.02  # App. A.2: "the most biased setting with σ = 0.02"
SPLIT_FRACTIONS = (0.8, 0.2)  # 4,000 training and 1,000 test digits
NO_CLASS = -1  # bg_classes of colored MNIST, whose background is plain black
LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601 brightness of an RGB color


def _hsv(hues: np.ndarray, saturation: float, value: float) -> np.ndarray:
    return np.array([colorsys.hsv_to_rgb(h % 1.0, saturation, value) for h in hues])


# Ten hues 36° apart. Digits are bright and saturated, backgrounds dark, and the
# background hues sit halfway between the digit hues, so every (digit, background)
# pair the random test assignment can draw differs by at least ~0.5 in RGB, and
# classes within a palette by at least ~0.19, about ten times the color noise.
FG_COLORS: torch.Tensor = torch.tensor(
    _hsv(np.arange(N_CLASSES) / N_CLASSES, 0.85, 0.92), dtype=torch.float32
)
BG_COLORS: torch.Tensor = torch.tensor(
    _hsv((np.arange(N_CLASSES) + 0.5) / N_CLASSES, 1.0, 0.45), dtype=torch.float32
)


# --------------------------------------------------------------------------- textures


# The painters use NumPy, not torch: on images this small torch's intra-op threads
# cost far more than they save, and many times more on a busy machine.
def _smooth_noise(rng: np.random.Generator, cells: int, octaves: int) -> np.ndarray:
    """Fractal value noise on a TEXTURE_SIDE² grid, standardised to mean 0, std 1."""
    total = np.zeros((TEXTURE_SIDE, TEXTURE_SIDE))
    for octave in range(octaves):
        n = cells * 2**octave
        grid = rng.standard_normal((n, n))
        total += 0.5**octave * ndimage.zoom(
            grid, TEXTURE_SIDE / n, order=3, mode="grid-wrap", grid_mode=True
        )
    return (total - total.mean()) / total.std()


def _striped(index: int, rng: np.random.Generator) -> np.ndarray:
    # Identity of the family (fixed by its index): orientation, period, colors.
    # Detail (from the seed): the warp and the thickness of the stripes.
    angle = math.pi * index / N_CLASSES
    period = 4.0 + (3 * index) % 5  # 4..8 pixels, mixed up so neighbours differ
    hue = index / N_CLASSES
    # Dark ink on pale paper, the ink darkened to luma <= 0.4 whatever its hue:
    # equally bright ink and paper (yellow on lavender) read as no stripes at all.
    ink = _hsv(np.array([hue]), 1.0, 1.0)[0]
    ink = ink * min(1.0, 0.4 / float(ink @ LUMA.numpy()))
    paper = _hsv(np.array([hue + 0.5]), 0.2, 1.0)[0]
    y, x = np.mgrid[:TEXTURE_SIDE, :TEXTURE_SIDE].astype(float)
    along = x * math.cos(angle) + y * math.sin(angle) + 0.8 * period * _smooth_noise(rng, 3, 2)
    thickness = 0.5 * _smooth_noise(rng, 2, 1)  # thin stripes here, broad bands there
    wave = 6.0 * (np.sin(2 * math.pi * along / period) - thickness)
    stripes = 1 / (1 + np.exp(-wave))
    return stripes * ink[:, None, None] + (1 - stripes) * paper[:, None, None]


def _veiny(index: int, rng: np.random.Generator) -> np.ndarray:
    # Veins are the zero-level lines of smooth noise: thin, unbranched, meandering
    # curves, like marble or leaf veins. A coarse layer of wide veins and a fine
    # layer of thin ones make crops differ across the image.
    hue = (index + 0.5) / N_CLASSES
    base = _hsv(np.array([hue]), 0.75, 0.35)[0]
    vein = _hsv(np.array([hue + 0.06]), 0.35, 0.62)[0]
    cells = 2 + index % 4
    width = 0.07 + 0.02 * (index % 3)
    major = np.exp(-((_smooth_noise(rng, cells, 2) / width) ** 2))
    minor = np.exp(-((_smooth_noise(rng, 2 * cells, 2) / (0.5 * width)) ** 2))
    veins = np.maximum(major, 0.7 * minor)
    shade = 1.0 + 0.1 * _smooth_noise(rng, 2, 1)  # uneven ground, as in a photo
    ground = np.clip(base[:, None, None] * shade, 0, 1)
    return veins * vein[:, None, None] + (1 - veins) * ground


@lru_cache(maxsize=8)
def _bank(kind: str, seed: int) -> torch.Tensor:
    """The ten families of one kind, (10, 3, TEXTURE_SIDE, TEXTURE_SIDE); read-only."""
    painter = _striped if kind == "striped" else _veiny
    # One SeedSequence stream per (seed, kind, family), so a family never depends on the
    # others. Kept as it was (not child_seed): the families are painted once for every run,
    # and a repaint would change every Wildlife image (docs/cgn-log.md, "Seeds").
    images = [
        painter(index, np.random.default_rng([seed, TEXTURE_KINDS.index(kind), index]))
        for index in range(N_CLASSES)
    ]
    return torch.from_numpy(np.clip(np.stack(images), 0, 1).astype(np.float32))


@dataclass(frozen=True)
class TextureFamily:
    """One procedural texture family: a stand-in for one DTD image of App. A.2.

    ``kind`` is ``"striped"`` (Wildlife foregrounds) or ``"veiny"`` (backgrounds);
    ``index`` (0..9) is the class the family encodes. The index fixes the family's
    look (colors; stripe orientation and period; vein scale and width) and
    ``seed`` its detail, so the same (kind, index, seed) always paints the same
    image.
    """

    kind: str
    index: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in TEXTURE_KINDS:
            raise ValueError(f"kind must be one of {TEXTURE_KINDS}, got {self.kind!r}")
        check_int("index", self.index, 0, N_CLASSES)
        check_int("seed", self.seed, 0, 2**32)

    def image(self) -> torch.Tensor:
        """The family's full texture, (3, TEXTURE_SIDE, TEXTURE_SIDE) float32 in [0, 1]."""
        return _bank(self.kind, int(self.seed))[self.index].clone()


def _crops(bank: torch.Tensor, family: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For each entry of ``family``, a uniformly placed SIDE² crop of ``bank[family]``."""
    n = family.shape[0]
    top = torch.randint(0, TEXTURE_SIDE - SIDE + 1, (n,), generator=generator)
    left = torch.randint(0, TEXTURE_SIDE - SIDE + 1, (n,), generator=generator)
    offsets = torch.arange(SIDE)
    rows = (top[:, None] + offsets)[:, None, :, None]
    cols = (left[:, None] + offsets)[:, None, None, :]
    channels = torch.arange(3)[None, :, None, None]
    return bank[family[:, None, None, None], channels, rows, cols]


def sample_texture(
    family: TextureFamily, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` random 32×32 crops of one texture family (App. A.2), (n, 3, 32, 32) in [0, 1]."""
    if not isinstance(family, TextureFamily):
        raise ValueError(f"family must be a TextureFamily, got {type(family).__name__}")
    n = check_int("n", n, 1)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    index = torch.full((n,), family.index, dtype=torch.long)
    return _crops(_bank(family.kind, int(family.seed)), index, generator)


def texture_bank(kind: str, seed: int = 0) -> torch.Tensor:
    """The ten families of one kind stacked by class: (10, 3, TEXTURE_SIDE, TEXTURE_SIDE)."""
    if kind not in TEXTURE_KINDS:
        raise ValueError(f"kind must be one of {TEXTURE_KINDS}, got {kind!r}")
    return _bank(kind, check_int("seed", seed, 0, 2**32)).clone()


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class MnistVariant:
    """One split of one MNIST variant of App. A.2.

    ``images`` (N, 3, 32, 32) float32 in [0, 1]; ``labels`` (N,) the digits' classes;
    ``fg_classes`` / ``bg_classes`` (N,) the classes whose color or texture the
    foreground / background actually got (``bg_classes`` is :data:`NO_CLASS` for
    colored MNIST, whose background is black); ``masks`` (N, 1, 32, 32) float32 in
    {0, 1}, the binary digit masks with images = masks ⊙ fg + (1 − masks) ⊙ bg;
    ``digit_index`` (N,) each image's index into ``causalkit.data.mnist(seed=0)``.
    """

    name: str
    split: str
    correlation: float
    images: torch.Tensor
    labels: torch.Tensor
    fg_classes: torch.Tensor
    bg_classes: torch.Tensor
    masks: torch.Tensor
    digit_index: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def subset(self, index: torch.Tensor) -> MnistVariant:
        """The images at ``index``, e.g. to cut one variant into IRM environments."""
        return MnistVariant(
            self.name,
            self.split,
            self.correlation,
            self.images[index],
            self.labels[index],
            self.fg_classes[index],
            self.bg_classes[index],
            self.masks[index],
            self.digit_index[index],
        )


@lru_cache(maxsize=1)
def _split_digits() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    digits = mnist(seed=0)
    parts = stratified_split(digits.labels, SPLIT_FRACTIONS, seed=0)
    out = {}
    for split, index in zip(SPLITS, parts, strict=True):
        padded = F.pad(digits.images[index], (PAD, PAD, PAD, PAD))
        masks = (padded > MASK_THRESHOLD).float()[:, None]
        out[split] = (index, digits.labels[index], masks)
    return out


def _assign(labels: torch.Tensor, correlation: float, generator: torch.Generator) -> torch.Tensor:
    keep = torch.rand(labels.shape[0], generator=generator) < correlation
    # Shifting by 1..9 picks each of the other nine classes with equal chance.
    shift = torch.randint(1, N_CLASSES, labels.shape, generator=generator)
    return torch.where(keep, labels, (labels + shift) % N_CLASSES)


def _jittered(
    palette: torch.Tensor, classes: torch.Tensor, std: float, generator: torch.Generator
) -> torch.Tensor:
    noise = std * torch.randn(classes.shape[0], 3, generator=generator)
    return (palette[classes] + noise).clamp(0, 1)[:, :, None, None]


def make_variant(
    name: str,
    split: str,
    correlation: float | None = None,
    seed: int = 0,
    *,
    color_std: float = COLOR_STD,
    texture_seed: int = 0,
) -> MnistVariant:
    """Build one split of colored, double-colored or Wildlife MNIST (App. A.2).

    ``name``: ``"colored"`` (digit colored by class, black background),
    ``"double_colored"`` (digit and background colored) or ``"wildlife"`` (striped
    digit texture, veiny background texture). ``split``: ``"train"`` (4,000
    digits) or ``"test"`` (1,000 other digits).

    ``correlation`` p ∈ [0, 1] sets how often the cues agree with the label.
    Exact rule, applied independently to the foreground and to the background of
    every image: with probability p the mechanism uses the image's own class;
    otherwise it uses one of the *other* nine classes, uniformly. So the expected
    fraction of images whose ``fg_classes`` (or ``bg_classes``) equals ``labels``
    is exactly p, and p = 0.1 is the uniform, label-independent assignment of the
    paper's test set. ``None`` means the paper's setting: 1.0 for ``"train"``
    (every training digit in its class's color or texture, as in Kim et al.) and
    0.1 for ``"test"`` (random). IRM environments (App. C.4) are 0.9 ... 1.0.

    ``seed`` drives the draws (class assignment, color noise, crop positions);
    the train and test splits of one seed use separate streams. Builds with the
    same seed and p share their class assignments across the three variants, and
    builds with the same seed but different p are nested (an image whose cue
    agrees at p agrees at every larger p), so give environments that should be
    independent different seeds.
    ``color_std`` is σ of the color noise, read as a standard deviation (App. A.2 calls
    it the "variance"; pass ``0.02 ** 0.5`` for that reading); ``texture_seed`` picks the texture
    families, which are the same for train and test as they were in the paper.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown MNIST variant {name!r}: choose one of {VARIANTS}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if correlation is None:
        correlation = 1.0 if split == "train" else 1.0 / N_CLASSES
    if (
        isinstance(correlation, bool)
        or not isinstance(correlation, numbers.Real)
        or not 0.0 <= correlation <= 1.0  # also rejects NaN
    ):
        raise ValueError(f"correlation must be a probability in [0, 1], got {correlation!r}")
    seed = check_int("seed", seed, 0, 2**32)
    texture_seed = check_int("texture_seed", texture_seed, 0, 2**32)
    if not (isinstance(color_std, numbers.Real) and 0.0 <= color_std < math.inf):
        raise ValueError(f"color_std must be a finite number >= 0, got {color_std!r}")

    index, labels, masks = _split_digits()[split]
    generator = torch.Generator().manual_seed(child_seed(seed, split))
    fg_classes = _assign(labels, correlation, generator)
    # Drawn for colored MNIST too (then dropped), so that the three variants of
    # one seed give every digit the same classes and differ only in appearance.
    bg_classes = _assign(labels, correlation, generator)

    if name == "wildlife":
        fg = _crops(_bank("striped", texture_seed), fg_classes, generator)
        bg = _crops(_bank("veiny", texture_seed), bg_classes, generator)
    else:
        fg = _jittered(FG_COLORS, fg_classes, color_std, generator)
        if name == "colored":
            bg = torch.zeros(1, 3, 1, 1)
            bg_classes = torch.full_like(labels, NO_CLASS)
        else:
            bg = _jittered(BG_COLORS, bg_classes, color_std, generator)
    images = masks * fg + (1 - masks) * bg
    return MnistVariant(
        name,
        split,
        float(correlation),
        images,
        labels.clone(),
        fg_classes,
        bg_classes,
        masks.clone(),
        index.clone(),
    )
