"""Three-frame clips of a character moving linearly: the video data set of §5.2 and App. F.

App. F: "3-frame 20 × 20 px video sequences of the main Super Mario Bros character moving
linearly in a random direction and with a random speed on different backgrounds, where the
character's positions are given by x1, y1, x2, y2 ∼ U(7, 12), x3 = 2 x2 - x1, y3 = 2 y2 - y1".
The paper's clips use Nintendo's sprite; this module draws an original character instead (a
small hooded figure, :data:`MARIO_SPRITE`, named for the role it plays) on procedural
backgrounds of its own design, since only the motion matters to the experiment.

Choices the paper leaves open, made here:

* Positions are whole pixels: x1, y1, x2, y2 are uniform on the integers {7, ..., 12}. The
  paper only writes U(7, 12); pixel art pasted at whole-pixel offsets stays crisp, and then
  x3 = 2 x2 - x1 holds exactly in the rendered frames (x3, y3 ∈ {2, ..., 17}).
* (x, y) is the (column, row) index of the sprite's centre pixel, row 0 at the top of the
  frame, so y grows downwards. The sprite is 7 x 7, so it spans columns x - 3 .. x + 3; at
  x3 = 2 or 17 one column falls outside the frame and is clipped, as is anything outside the
  frame when extrapolated positions (t > 3) leave it.
* The true SEM over (x1, y1, x2, y2, x3, y3) is linear with coefficients -1 and 2 and no noise
  on x3, y3; x1, y1, x2, y2 are independent root causes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from causalkit.core.validate import is_int

FRAME_SIZE = 20
NUM_FRAMES = 3
POSITION_RANGE = (7, 12)  # inclusive, for x1, y1, x2, y2 (App. F)
POSITION_VARIABLES = ("x1", "y1", "x2", "y2", "x3", "y3")

# An original character: a hooded figure with a face, two eyes and two feet.
# O = outline, H = hood, F = face, . = transparent.
_SPRITE_ART = (
    "..OOO..",
    ".OHHHO.",
    "OHFFFHO",
    "OHOFOHO",
    "OHFFFHO",
    ".OHHHO.",
    ".OO.OO.",
)
# No background colour can equal these (see the palettes below), so every visible sprite
# pixel differs from the background it covers.
_SPRITE_COLOURS = {
    "O": (0.13, 0.07, 0.30),
    "H": (0.62, 0.20, 0.78),
    "F": (1.00, 0.86, 0.30),
}


def _sprite_rgba() -> Tensor:
    rgba = torch.zeros(4, len(_SPRITE_ART), len(_SPRITE_ART[0]))
    for row, line in enumerate(_SPRITE_ART):
        for col, key in enumerate(line):
            if key != ".":
                rgba[:3, row, col] = torch.tensor(_SPRITE_COLOURS[key])
                rgba[3, row, col] = 1.0
    return rgba


MARIO_SPRITE = _sprite_rgba()
"""(4, 7, 7) float32 RGBA pixel art: channels 0-2 are colour in [0, 1], channel 3 is the
opacity mask in {0, 1}. The centre pixel [3, 3] sits at a clip's (x, y) position."""
SPRITE_SIZE = MARIO_SPRITE.shape[-1]
_HALF = SPRITE_SIZE // 2

# Background palettes as (low, high) RGB boxes. Sky is blue by day or peach at dusk; every
# box avoids the sprite's colours on at least one channel by at least 0.05.
_DAY_SKY = ((0.30, 0.55, 0.85), (0.60, 0.85, 1.00))
_DUSK_SKY = ((0.85, 0.55, 0.60), (1.00, 0.75, 0.80))
_DUSK_PROBABILITY = 0.3
_HILL = ((0.15, 0.55, 0.15), (0.35, 0.80, 0.35))
_GRASS = ((0.10, 0.40, 0.08), (0.25, 0.55, 0.18))
_SOIL = ((0.50, 0.30, 0.10), (0.75, 0.48, 0.22))
_CLOUD = (1.0, 1.0, 1.0)
_CLOUD_SHADE = (0.86, 0.90, 0.96)
_CRATE_EDGE = (0.55, 0.30, 0.12)
_CRATE_FACE = (0.85, 0.58, 0.25)
_MAX_FEATURES = 2  # hills, clouds and crates: up to two of each
_FEATURE_PROBABILITY = 0.6
# Frames matched per step: bounds the (chunk, 4, 26, 14) complex128 spectra to ~40 MB.
_MATCH_CHUNK = 1024
_TIE_TOL = 1e-9


def _generator(seed_or_generator: int | torch.Generator) -> torch.Generator:
    if isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    if not is_int(seed_or_generator, 0):
        raise ValueError(
            f"expected a non-negative int seed or a torch.Generator, got {seed_or_generator!r}"
        )
    return torch.Generator().manual_seed(int(seed_or_generator))


def _uniform(
    box: tuple[tuple[float, ...], tuple[float, ...]], shape: tuple[int, ...], gen: torch.Generator
) -> Tensor:
    low, high = torch.tensor(box[0]), torch.tensor(box[1])
    return low + (high - low) * torch.rand(*shape, len(box[0]), generator=gen)


def _paint(canvas: Tensor, mask: Tensor, colour: Tensor | tuple[float, ...]) -> Tensor:
    """Paint (n, 3) or fixed colours where the (n, 20, 20) mask holds."""
    colour = torch.as_tensor(colour, dtype=canvas.dtype).expand(canvas.shape[0], 3)
    return torch.where(mask[:, None], colour[:, :, None, None], canvas)


def _draw_backgrounds(n: int, gen: torch.Generator) -> Tensor:
    """n backgrounds at once: sky gradient, clouds, hills, a ground strip, floating crates."""
    rows = torch.arange(FRAME_SIZE, dtype=torch.float32)[None, None, :, None]
    cols = torch.arange(FRAME_SIZE, dtype=torch.float32)[None, None, None, :]
    k = _MAX_FEATURES

    dusk = torch.rand(n, generator=gen) < _DUSK_PROBABILITY
    sky = torch.where(
        dusk[:, None, None], _uniform(_DUSK_SKY, (n, 2), gen), _uniform(_DAY_SKY, (n, 2), gen)
    )
    # A vertical gradient between two colours of the same box stays inside the box.
    blend = (rows[0, 0] / (FRAME_SIZE - 1))[None, None]  # (1, 1, 20, 1)
    canvas = sky[:, 0, :, None, None] * (1 - blend) + sky[:, 1, :, None, None] * blend
    canvas = canvas.expand(n, 3, FRAME_SIZE, FRAME_SIZE).contiguous()

    # Clouds: two rows, the top one narrower, in the upper third of the sky.
    on = torch.rand(n, k, generator=gen) < _FEATURE_PROBABILITY
    c_col = torch.randint(-2, FRAME_SIZE + 2, (n, k), generator=gen)[..., None, None]
    c_row = torch.randint(1, 6, (n, k), generator=gen)[..., None, None]
    c_half = torch.randint(2, 5, (n, k), generator=gen)[..., None, None]
    dx = (cols - c_col).abs()
    top = (rows == c_row) & (dx <= c_half - 1)
    bottom = (rows == c_row + 1) & (dx <= c_half)
    canvas = _paint(canvas, ((top | bottom) & on[..., None, None]).any(1), _CLOUD)
    canvas = _paint(canvas, (bottom & on[..., None, None]).any(1), _CLOUD_SHADE)

    ground_height = torch.randint(2, 5, (n,), generator=gen)
    ground_top = (FRAME_SIZE - ground_height)[:, None, None, None]  # first ground row

    # Hills: half-ellipses resting on the ground.
    on = torch.rand(n, k, generator=gen) < _FEATURE_PROBABILITY
    h_col = torch.randint(0, FRAME_SIZE, (n, k), generator=gen)[..., None, None]
    h_radius = torch.randint(3, 7, (n, k), generator=gen)[..., None, None]
    height = ground_top - 0.5 - rows
    hill = ((cols - h_col) / h_radius).square() + (height / (0.7 * h_radius)).square() <= 1
    hill = (hill & (height > 0) & on[..., None, None]).any(1)
    canvas = _paint(canvas, hill, _uniform(_HILL, (n,), gen))

    ground = (rows >= ground_top)[:, 0].expand(n, FRAME_SIZE, FRAME_SIZE)
    canvas = _paint(canvas, ground, _uniform(_SOIL, (n,), gen))
    grass = (rows == ground_top)[:, 0].expand(n, FRAME_SIZE, FRAME_SIZE)
    canvas = _paint(canvas, grass, _uniform(_GRASS, (n,), gen))

    # Crates: 3 x 3 blocks hovering above the ground, an edge around a lighter face.
    on = torch.rand(n, k, generator=gen) < _FEATURE_PROBABILITY
    b_col = torch.randint(0, FRAME_SIZE - 2, (n, k), generator=gen)[..., None, None]
    b_row = torch.randint(2, 12, (n, k), generator=gen)[..., None, None]
    d_col, d_row = cols - b_col, rows - b_row
    crate = (d_col >= 0) & (d_col <= 2) & (d_row >= 0) & (d_row <= 2) & on[..., None, None]
    face = crate & (d_col == 1) & (d_row == 1)
    canvas = _paint(canvas, crate.any(1), _CRATE_EDGE)
    return _paint(canvas, face.any(1), _CRATE_FACE)


def background(seed_or_generator: int | torch.Generator) -> Tensor:
    """One procedural 20x20 background (§5.2 "varied backgrounds") as (3, 20, 20) float32.

    An int seeds a fresh generator, so the same seed always gives the same background; a
    ``torch.Generator`` is advanced, so successive calls give different ones.
    """
    return _draw_backgrounds(1, _generator(seed_or_generator))[0]


def _check_backgrounds(backgrounds: object) -> Tensor:
    backgrounds = torch.as_tensor(backgrounds)
    if (
        backgrounds.dim() != 4
        or backgrounds.shape[0] < 1
        or backgrounds.shape[1:] != (3, FRAME_SIZE, FRAME_SIZE)
    ):
        raise ValueError(
            f"backgrounds must have shape (N, 3, 20, 20) with N >= 1, "
            f"got {tuple(backgrounds.shape)}"
        )
    if not backgrounds.is_floating_point():
        raise ValueError(f"backgrounds must be a float tensor in [0, 1], got {backgrounds.dtype}")
    if not (
        torch.isfinite(backgrounds).all() and backgrounds.min() >= 0 and backgrounds.max() <= 1
    ):
        raise ValueError("backgrounds must hold finite values in [0, 1]")
    return backgrounds


def _check_positions(positions: object, n: int) -> Tensor:
    positions = torch.as_tensor(positions)
    if positions.dim() != 3 or positions.shape[0] != n or positions.shape[2] != 2:
        raise ValueError(
            f"positions must have shape (N, T, 2) with N = {n} (one row per background), "
            f"got {tuple(positions.shape)}"
        )
    if positions.shape[1] < 1:
        raise ValueError("positions must hold at least one frame (T >= 1)")
    if positions.is_floating_point():
        if not torch.isfinite(positions).all():
            raise ValueError("positions must be finite, got NaN or infinite values")
        if (positions != positions.round()).any():
            raise ValueError(
                "positions must be whole pixels (the sprite is pasted at integer offsets), "
                "got non-integer values; round them first"
            )
    elif positions.dtype == torch.bool or positions.is_complex():
        raise ValueError(f"positions must be integers or integral floats, got {positions.dtype}")
    return positions.long()


def render_frames(positions: Tensor, backgrounds: Tensor) -> Tensor:
    """Paste the sprite onto each clip's background at each frame's position (§5.2, App. F).

    ``positions`` is (N, T, 2) whole-pixel (x, y) = (column, row) of the sprite's centre; any
    T works (more than 3 for extrapolation) and positions may leave the frame: the sprite is
    clipped to the 20x20 frame, so a sprite entirely outside leaves the bare background.
    ``backgrounds`` is (N, 3, 20, 20) in [0, 1]. Returns (N, T, 3, 20, 20) in its dtype.
    """
    backgrounds = _check_backgrounds(backgrounds)
    positions = _check_positions(positions, backgrounds.shape[0])
    pixels = torch.arange(FRAME_SIZE)
    # Each frame pixel's coordinates in the sprite: (N, T, 20, 1) rows and (N, T, 1, 20) cols.
    sprite_row = pixels[:, None] - positions[..., 1, None, None] + _HALF
    sprite_col = pixels[None, :] - positions[..., 0, None, None] + _HALF
    covered = (
        (sprite_row >= 0)
        & (sprite_row < SPRITE_SIZE)
        & (sprite_col >= 0)
        & (sprite_col < SPRITE_SIZE)
    )
    flat = sprite_row.clamp(0, SPRITE_SIZE - 1) * SPRITE_SIZE + sprite_col.clamp(0, SPRITE_SIZE - 1)
    sprite = MARIO_SPRITE.to(backgrounds.dtype).reshape(4, -1)
    opaque = (sprite[3][flat] > 0) & covered  # (N, T, 20, 20)
    colour = sprite[:3, flat].movedim(0, 2)  # (N, T, 3, 20, 20)
    return torch.where(opaque[:, :, None], colour, backgrounds[:, None])


def _paste_gain(frames: Tensor, backgrounds: Tensor) -> Tensor:
    """(M, 26 * 26) change in squared error from pasting the sprite at each candidate centre.

    Pasting at p changes the error only on the sprite's footprint, by the sum over it of
    (f - s)² - (f - b)² = (2 f b - b²) - 2 f s + s²: correlations of the frame with the sprite.
    Zero padding drops the footprint's off-frame part, which is exactly the clipping. The
    correlations run as float64 FFTs: CPU conv2d in float64 is ~30x slower, and float32 would
    blur the exact ties that mark an ambiguous, mostly clipped sprite.
    """
    f, b = frames.to(torch.float64), backgrounds.to(torch.float64)
    sprite = MARIO_SPRITE.to(torch.float64)
    colour, opaque = sprite[:3] * sprite[3], sprite[3]
    channels = torch.cat(((2 * f * b - b * b).sum(1, keepdim=True), f), dim=1)
    kernel = torch.cat((opaque[None], -2 * colour)).flip(-2, -1)  # flipped: a correlation
    side = FRAME_SIZE + SPRITE_SIZE - 1
    spectrum = torch.fft.rfft2(channels, s=(side, side)) * torch.fft.rfft2(kernel, s=(side, side))
    correlation = torch.fft.irfft2(spectrum.sum(1), s=(side, side))
    sprite_energy = F.conv2d(
        torch.ones(1, 1, FRAME_SIZE, FRAME_SIZE, dtype=torch.float64),
        (colour * colour).sum(0)[None, None],
        padding=SPRITE_SIZE - 1,
    )
    return (correlation + sprite_energy[0]).flatten(1)


def sprite_position(frames: Tensor, backgrounds: Tensor) -> Tensor:
    """Where the sprite is in each frame, by template matching against the known background.

    For every candidate centre (x, y) whose 7x7 box overlaps the frame, scores the squared
    error between the frame and the background with the sprite pasted (and clipped) there,
    and returns the best (x, y) as (N, T, 2) float32; on frames from :func:`render_frames`
    it is exact whenever the centre pixel is at most one pixel off-frame (x, y ∈ [-1, 20],
    clipped sprites included), which covers the data set's [2, 17]. NaN marks frames where no
    candidate beats the bare background (the sprite is out of view) or where several tie
    because too little of a far off-frame sprite shows to pin it down. Also usable on
    decoded, blurry frames (§5.2 interventions and extrapolation): it returns the
    best-matching position.
    ``frames`` is (N, T, 3, 20, 20), ``backgrounds`` (N, 3, 20, 20).
    """
    backgrounds = _check_backgrounds(backgrounds)
    frames = torch.as_tensor(frames)
    n = backgrounds.shape[0]
    if (
        frames.dim() != 5
        or frames.shape[0] != n
        or frames.shape[1] < 1
        or frames.shape[2:] != backgrounds.shape[1:]
    ):
        raise ValueError(
            f"frames must have shape (N, T, 3, 20, 20) with N = {n} (one row per background) "
            f"and T >= 1, got {tuple(frames.shape)}"
        )
    if not (frames.is_floating_point() and torch.isfinite(frames).all()):
        raise ValueError("frames must be a finite float tensor")
    t = frames.shape[1]
    f = frames.reshape(n * t, 3, FRAME_SIZE, FRAME_SIZE)
    b = backgrounds.repeat_interleave(t, dim=0)
    chunks = zip(f.split(_MATCH_CHUNK), b.split(_MATCH_CHUNK), strict=True)
    gain = torch.cat([_paste_gain(f_chunk, b_chunk) for f_chunk, b_chunk in chunks])
    best_gain, best = gain.min(1)
    side = FRAME_SIZE + SPRITE_SIZE - 1  # candidates per axis
    # With padding SPRITE_SIZE - 1, output index i puts the sprite's top-left at
    # i - (SPRITE_SIZE - 1), so its centre at i - _HALF.
    xy = torch.stack((best % side, best // side), dim=1).to(torch.float32) - _HALF
    # FFT rounding is ~1e-13, while distinct renderings differ by a whole pixel's colour.
    visible = best_gain < -_TIE_TOL
    unique = (gain <= best_gain[:, None] + _TIE_TOL).sum(1) == 1
    xy[~(visible & unique)] = float("nan")
    return xy.reshape(n, t, 2)


def _true_sem() -> tuple[Tensor, Tensor]:
    """Graph [i, j] (i -> j) and coefficients [j, i] (sem.py's layout) of App. F's SEM."""
    names = POSITION_VARIABLES
    coefficients = torch.zeros(len(names), len(names))
    for axis in ("x", "y"):
        third = names.index(f"{axis}3")
        coefficients[third, names.index(f"{axis}1")] = -1.0
        coefficients[third, names.index(f"{axis}2")] = 2.0
    return coefficients.mT != 0, coefficients


@dataclass(frozen=True, eq=False)
class MarioClips:
    """Clips of §5.2 / App. F with their true positions and true SEM.

    ``positions.reshape(N, 6)`` lists the variables in the order of ``variable_names``
    (x1, y1, x2, y2, x3, y3), a causal order; ``graph[i, j]`` is the edge i -> j and
    ``coefficients[j, i]`` its weight (row j is a_j^T of Thm. 2, as in
    :mod:`causalkit.semvae.sem`), so ``z = coefficients @ z + noise`` with no noise on x3, y3.
    """

    frames: Tensor  # (N, 3, 3, 20, 20) float32 in [0, 1]
    backgrounds: Tensor  # (N, 3, 20, 20) float32 in [0, 1]
    positions: Tensor  # (N, 3, 2) float32 whole pixels, (x, y) = (column, row)
    graph: Tensor  # (6, 6) bool
    coefficients: Tensor  # (6, 6) float32
    variable_names: tuple[str, ...] = POSITION_VARIABLES

    def __len__(self) -> int:
        return self.frames.shape[0]


def mario_clips(n: int, seed: int) -> MarioClips:
    """``n`` clips of App. F on fresh backgrounds, deterministic given ``seed``.

    x1, y1, x2, y2 are uniform on {7, ..., 12}; x3 = 2 x2 - x1 and y3 = 2 y2 - y1 (§5.2).
    """
    if not is_int(n, 1):
        raise ValueError(f"n must be a positive int (the number of clips), got {n!r}")
    gen = _generator(seed)
    backgrounds = _draw_backgrounds(n, gen)
    low, high = POSITION_RANGE
    first_two = torch.randint(low, high + 1, (n, 2, 2), generator=gen).to(torch.float32)
    third = 2 * first_two[:, 1] - first_two[:, 0]
    positions = torch.cat((first_two, third[:, None]), dim=1)
    graph, coefficients = _true_sem()
    return MarioClips(
        render_frames(positions, backgrounds), backgrounds, positions, graph, coefficients
    )
