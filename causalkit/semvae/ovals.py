"""Ovals on a parabola: the procedural image data set of §5.1 and App. E.

App. E: "76800 binary images of size 64 × 64 containing ovals generated at 6 different scales
s, 40 rotations r, 32 horizontal positions x and 10 vertical positions y, where y = x² + n_y
and s and r factors are sampled independently". The causal graph is the single edge x -> y
(§5.1). The paper gives no ranges, so the ones below are chosen here and modelled on the
dSprites ellipse that the factor counts copy:

* scale s: ``scales`` levels evenly spaced in [0.5, 1] (dSprites' scale range); the oval's
  semi-axes are s * (9, 4.5) pixels, a 2:1 ellipse.
* rotation r: ``rotations`` angles k * 2π / rotations (radians). dSprites rotates its ellipse
  over the full turn too, so with an even count the angles r and r + π give identical images:
  that duplication is a property of the data set, kept rather than "fixed".
* horizontal position x: ``x_positions`` levels evenly spaced in [-1, 1], so y = x² spans
  [0, 1] and the parabola is a symmetric U.
* offset n_y from the parabola: ``offsets`` levels evenly spaced in [-0.25, 0.25]; the
  vertical position is y = x² + n_y ∈ [-0.25, 1.25].

Positions map to pixels affinely: column = 32 + 21 x, row = 32 - 28 (y - 0.5), so y grows
towards the top of the image (as in §5.1, "values increasing towards the top") and the oval's
centre stays in [11, 53] on both axes. The largest oval reaches 9 px from its centre, so every
oval lies in pixels 2..61 for every factor combination: no oval is ever clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from causalkit.core.validate import is_int

OVAL_FACTORS = ("scale", "rotation", "x", "offset")
IMAGE_SIZE = 64
SCALE_RANGE = (0.5, 1.0)
X_RANGE = (-1.0, 1.0)
OFFSET_RANGE = (-0.25, 0.25)
SEMI_AXES = (9.0, 4.5)  # pixels at scale 1
# Pixels per unit of x and of y: the affine map above, fixed so the largest oval keeps a
# one-pixel margin from the border at the extreme positions.
PIXELS_PER_X = 21.0
PIXELS_PER_Y = 28.0
_CENTRE = IMAGE_SIZE / 2
_Y_MID = 0.5  # the middle of the y range [-0.25, 1.25] maps to the middle row
# A pixel centre exactly on the ellipse is inside; without a tolerance, rounding in cos/sin
# would put such ties on either side, and r and r + π would differ by a boundary pixel.
_INSIDE_TOL = 1e-9
# Images rendered per vectorised step: (256, 64, 64) float64 temporaries (8 MB) are reused by
# the allocator, whereas 1024+ were ~3x slower, mostly spent mapping fresh memory.
_CHUNK = 256


def _levels(low: float, high: float, count: int) -> Tensor:
    if count == 1:  # a single level sits in the middle of its range
        return torch.tensor([(low + high) / 2], dtype=torch.float64)
    return torch.linspace(low, high, count, dtype=torch.float64)


@dataclass(frozen=True)
class OvalGrid:
    """How many levels each factor of App. E takes; the default is the paper's full grid."""

    scales: int = 6
    rotations: int = 40
    x_positions: int = 32
    offsets: int = 10

    def __post_init__(self) -> None:
        for name in ("scales", "rotations", "x_positions", "offsets"):
            value = getattr(self, name)
            if not is_int(value, 1):
                raise ValueError(f"OvalGrid.{name} must be a positive int, got {value!r}")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Levels per factor, in the order of :data:`OVAL_FACTORS`."""
        return (self.scales, self.rotations, self.x_positions, self.offsets)

    def __len__(self) -> int:
        return math.prod(self.shape)

    def levels(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The float64 values of scale, rotation (radians), x and offset (App. E)."""
        rotations = torch.arange(self.rotations, dtype=torch.float64) * (
            2 * math.pi / self.rotations
        )
        return (
            _levels(*SCALE_RANGE, self.scales),
            rotations,
            _levels(*X_RANGE, self.x_positions),
            _levels(*OFFSET_RANGE, self.offsets),
        )

    def factors(self) -> Tensor:
        """Every combination as an (N, 4) float64 tensor, the last factor varying fastest.

        Row ``((s * rotations + r) * x_positions + x) * offsets + o`` holds level s, r, x, o,
        like dSprites' row-major latent order.
        """
        return torch.cartesian_prod(*self.levels())


QUICK_OVAL_GRID = OvalGrid(scales=3, rotations=10, x_positions=16, offsets=5)


def _check_factors(factors: object) -> Tensor:
    factors = torch.as_tensor(factors)
    if factors.dim() != 2 or factors.shape[1] != len(OVAL_FACTORS):
        raise ValueError(
            f"factors must have shape (N, 4) with columns {OVAL_FACTORS}, "
            f"got {tuple(factors.shape)}"
        )
    factors = factors.to(torch.float64)
    if not torch.isfinite(factors).all():
        raise ValueError("factors must be finite, got NaN or infinite values")
    for column, name, (low, high) in (
        (0, "scale", SCALE_RANGE),
        (2, "x", X_RANGE),
        (3, "offset", OFFSET_RANGE),
    ):
        values = factors[:, column]
        if values.numel() and (values.min() < low or values.max() > high):
            raise ValueError(
                f"{name} must lie in [{low}, {high}] so the oval stays inside the frame, "
                f"got values in [{values.min().item():.4g}, {values.max().item():.4g}]"
            )
    return factors


def _positions(factors: Tensor) -> Tensor:
    x = factors[:, 2]
    return torch.stack((x, x.square() + factors[:, 3]), dim=1)


def _centres(factors: Tensor) -> Tensor:
    x, y = _positions(factors).unbind(1)
    return torch.stack((_CENTRE + PIXELS_PER_X * x, _CENTRE - PIXELS_PER_Y * (y - _Y_MID)), dim=1)


def oval_positions(factors: Tensor) -> Tensor:
    """The true position (x, y) with y = x² + n_y (§5.1), as an (N, 2) float64 tensor."""
    return _positions(_check_factors(factors))


def oval_centres(factors: Tensor) -> Tensor:
    """Each oval's centre in pixels as (column, row), float64, row 0 at the top of the image.

    Pixel (row i, column j) covers [j, j + 1] x [i, i + 1], so its centre is (j + 0.5, i + 0.5).
    """
    return _centres(_check_factors(factors))


def _render(factors: Tensor) -> Tensor:
    scale, angle = factors[:, 0, None, None], factors[:, 1, None, None]
    centre = _centres(factors)
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float64) + 0.5
    u = grid[None, None, :] - centre[:, 0, None, None]  # (N, 1, 64) along columns
    v = grid[None, :, None] - centre[:, 1, None, None]  # (N, 64, 1) along rows
    cos, sin = torch.cos(angle), torch.sin(angle)
    inv_major2 = (scale * SEMI_AXES[0]).reciprocal().square()
    inv_minor2 = (scale * SEMI_AXES[1]).reciprocal().square()
    # The ellipse as a quadratic form a u² + b u v + c v² <= 1: only the u v term needs a
    # full (N, 64, 64) product, which is what makes the 76,800-image grid fast. The angle
    # turns the major axis anticlockwise on screen (rows grow downwards, hence b's sign).
    a = cos.square() * inv_major2 + sin.square() * inv_minor2
    c = sin.square() * inv_major2 + cos.square() * inv_minor2
    b = 2 * cos * sin * (inv_minor2 - inv_major2)
    quadratic = (a * u.square() + c * v.square()).addcmul_(b * u, v)
    return quadratic <= 1 + _INSIDE_TOL


def oval_images(factors: Tensor) -> Tensor:
    """Render binary 64x64 oval images (§5.1, App. E) for an (N, 4) tensor of factor values.

    Columns are (scale, rotation angle in radians, x, offset n_y) as in :data:`OVAL_FACTORS`;
    scale, x and offset must lie in their ranges (module docstring), any finite angle is fine.
    A pixel is on when its centre lies inside the ellipse. Returns (N, 1, 64, 64) float32 in
    {0, 1}.
    """
    return _render(_check_factors(factors)).unsqueeze(1).to(torch.float32)


def ink_positions(images: Tensor, threshold: float = 0.5) -> Tensor:
    """Where an oval is, read off an image: the (x, y) of App. E at the centre of its ink.

    The inverse of the pixel map of :func:`oval_centres`, applied to the centre of mass of
    the pixels above ``threshold`` (for decoded images, whose pixels are probabilities).
    ``images`` is (N, 1, 64, 64); returns (N, 2) float64, NaN for an image with no ink.
    """
    images = torch.as_tensor(images)
    if images.dim() != 4 or images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images must have shape (N, 1, 64, 64), got {tuple(images.shape)}")
    ink = torch.where(images[:, 0] > threshold, images[:, 0].double(), 0.0)
    mass = ink.sum((1, 2))
    centres = torch.arange(IMAGE_SIZE, dtype=torch.float64) + 0.5
    column = (ink.sum(1) * centres).sum(1) / mass
    row = (ink.sum(2) * centres).sum(1) / mass
    xy = torch.stack(
        ((column - _CENTRE) / PIXELS_PER_X, _Y_MID + (_CENTRE - row) / PIXELS_PER_Y), 1
    )
    xy[mass == 0] = float("nan")
    return xy


@dataclass(frozen=True, eq=False)
class OvalDataset:
    """Images, factors and true positions of the ovals data set (§5.1, App. E).

    ``images`` is bool (1 byte per pixel): the full grid is 76,800 x 64 x 64 = 315 MB as bool
    but 1.26 GB as float32, so convert per batch with ``images[index].float()``.
    """

    images: Tensor  # (N, 1, 64, 64) bool
    factors: Tensor  # (N, 4) float64, columns OVAL_FACTORS
    positions: Tensor  # (N, 2) float64, the causal variables (x, y), y = x² + offset
    factor_names: tuple[str, ...] = OVAL_FACTORS

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"images must have shape (N, 1, 64, 64), got {self.images.shape}")
        if self.factors.shape != (n, len(OVAL_FACTORS)) or self.positions.shape != (n, 2):
            raise ValueError(
                f"factors and positions must have shapes ({n}, 4) and ({n}, 2), got "
                f"{tuple(self.factors.shape)} and {tuple(self.positions.shape)}"
            )

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, index: Tensor) -> OvalDataset:
        """The images at ``index`` (a long or bool index tensor) with their factors."""
        return OvalDataset(self.images[index], self.factors[index], self.positions[index])

    def sample(self, n: int, generator: torch.Generator | None = None) -> OvalDataset:
        """``n`` distinct images drawn uniformly at random, reproducibly given ``generator``."""
        if not is_int(n, 1) or n > len(self):
            raise ValueError(f"n must be an int in [1, {len(self)}], got {n!r}")
        return self.subset(torch.randperm(len(self), generator=generator)[:n])


def oval_dataset(grid: OvalGrid | None = None) -> OvalDataset:
    """Every factor combination of ``grid`` (default: App. E's 6 x 40 x 32 x 10 = 76,800).

    Rendered in chunks so the float64 temporaries stay small; images are stored as bool.
    """
    grid = OvalGrid() if grid is None else grid
    if not isinstance(grid, OvalGrid):
        raise ValueError(f"grid must be an OvalGrid, got {type(grid).__name__}")
    factors = grid.factors()
    images = torch.empty((len(grid), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.bool)
    for start in range(0, len(grid), _CHUNK):
        images[start : start + _CHUNK, 0] = _render(factors[start : start + _CHUNK])
    return OvalDataset(images, factors, _positions(factors))
