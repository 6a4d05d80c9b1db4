"""The procedural data sets of paper 002: ovals on a parabola (§5.1, App. E) and the 3-frame
clips of a moving character (§5.2, App. F). No model is trained here."""

from __future__ import annotations

import math

import pytest
import torch

from causalkit.semvae import (
    MARIO_SPRITE,
    OVAL_FACTORS,
    POSITION_VARIABLES,
    QUICK_OVAL_GRID,
    OvalGrid,
    background,
    mario_clips,
    oval_centres,
    oval_dataset,
    oval_images,
    oval_positions,
    render_frames,
    sprite_position,
)
from causalkit.semvae.mario import FRAME_SIZE, SPRITE_SIZE
from causalkit.semvae.ovals import (
    IMAGE_SIZE,
    OFFSET_RANGE,
    PIXELS_PER_X,
    PIXELS_PER_Y,
    SCALE_RANGE,
    SEMI_AXES,
)

# --------------------------------------------------------------------------- ovals (§5.1)


@pytest.fixture(scope="module")
def full_ovals():
    return oval_dataset()


def _centres_of_mass(images: torch.Tensor) -> torch.Tensor:
    """(column, row) centre of mass of each bool image, pixel centres at +0.5, in chunks."""
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float64) + 0.5
    out = []
    for chunk in images[:, 0].split(8192):
        f = chunk.to(torch.float64)
        mass = f.sum((1, 2))
        out.append(torch.stack(((f.sum(1) @ grid) / mass, (f.sum(2) @ grid) / mass), dim=1))
    return torch.cat(out)


def test_full_grid_size_order_and_dtypes(full_ovals):
    # No wall-clock bound here: under two busy xdist workers the build took 12 s (2026-12-07).
    data = full_ovals
    grid = OvalGrid()
    assert len(grid) == len(data) == 6 * 40 * 32 * 10 == 76_800
    assert grid.shape == (6, 40, 32, 10)
    assert data.images.shape == (76_800, 1, 64, 64) and data.images.dtype == torch.bool
    assert data.factors.shape == (76_800, 4) and data.factors.dtype == torch.float64
    assert data.factor_names == OVAL_FACTORS == ("scale", "rotation", "x", "offset")

    scales, rotations, xs, offsets = grid.levels()
    assert torch.allclose(scales, torch.linspace(0.5, 1.0, 6, dtype=torch.float64))
    assert torch.allclose(rotations, torch.arange(40, dtype=torch.float64) * 2 * math.pi / 40)
    assert (xs[0], xs[-1], offsets[0], offsets[-1]) == (-1.0, 1.0, -0.25, 0.25)
    # Row-major order, the last factor (offset) fastest, as in dSprites.
    for s, r, x, o in [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (1, 2, 3, 4), (5, 39, 31, 9)]:
        row = ((s * 40 + r) * 32 + x) * 10 + o
        expected = torch.stack((scales[s], rotations[r], xs[x], offsets[o]))
        assert torch.equal(data.factors[row], expected)


def test_positions_follow_the_parabola(full_ovals):
    data = full_ovals
    x, offset = data.factors[:, 2], data.factors[:, 3]
    assert torch.equal(data.positions[:, 0], x)
    assert torch.equal(data.positions[:, 1], x.square() + offset)
    assert torch.equal(oval_positions(data.factors[:7]), data.positions[:7])


def test_every_oval_is_inside_the_frame(full_ovals):
    data = full_ovals
    images = data.images[:, 0]
    assert images.flatten(1).any(1).all(), "some image is blank"
    for border in (images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]):
        assert not border.any(), "an oval touches the border, so it may be clipped"
    # Analytically too: the rotated ellipse's bounding box stays inside [0, 64].
    scale, angle = data.factors[:, 0], data.factors[:, 1]
    a, b = scale * SEMI_AXES[0], scale * SEMI_AXES[1]
    half_w = (a * angle.cos()).hypot(b * angle.sin())
    half_h = (a * angle.sin()).hypot(b * angle.cos())
    col, row = oval_centres(data.factors).unbind(1)
    assert (col - half_w).min() > 0 and (col + half_w).max() < IMAGE_SIZE
    assert (row - half_h).min() > 0 and (row + half_h).max() < IMAGE_SIZE


def test_centres_of_mass_trace_y_equals_x_squared_plus_offset(full_ovals):
    data = full_ovals
    com = _centres_of_mass(data.images)
    assert (com - oval_centres(data.factors)).abs().max() < 1.0
    # Read (x, y) back from the pixels: y grows upwards, with PIXELS_PER_Y pixels per unit.
    x_seen = (com[:, 0] - IMAGE_SIZE / 2) / PIXELS_PER_X
    y_seen = 0.5 - (com[:, 1] - IMAGE_SIZE / 2) / PIXELS_PER_Y
    x, offset = data.factors[:, 2], data.factors[:, 3]
    assert (x_seen - x).abs().max() < 1 / PIXELS_PER_X
    assert (y_seen - (x.square() + offset)).abs().max() < 1 / PIXELS_PER_Y
    # The parabola is visible: at the middle offset the top of the U is ~28 px above its base.
    middle = data.positions[:, 1] - data.positions[:, 0].square()
    rows = com[:, 1][middle.abs() < 0.03]
    assert rows.max() - rows.min() > 0.9 * PIXELS_PER_Y


def test_half_turn_gives_the_same_image_and_rotation_and_scale_are_visible(full_ovals):
    data = full_ovals
    images = data.images.view(6, 40, 32, 10, 64, 64)
    # An ellipse is symmetric under a half turn: rotation k and k + 20 of 40 coincide.
    assert torch.equal(images[:, :20], images[:, 20:])
    assert (images[:, 0] != images[:, 10]).flatten(1).any(1).all(), "a quarter turn changes it"
    area = images.flatten(4).sum(-1).to(torch.float64).mean((1, 2, 3))
    assert (area.diff() > 0).all()
    scales = torch.linspace(*SCALE_RANGE, 6, dtype=torch.float64)
    expected = math.pi * SEMI_AXES[0] * SEMI_AXES[1] * scales.square()
    assert torch.allclose(area, expected, rtol=0.1)


def test_oval_images_renders_float_images_matching_the_dataset(full_ovals):
    data = full_ovals
    index = torch.tensor([0, 1, 999, 40_000, 76_799])
    images = oval_images(data.factors[index])
    assert images.shape == (5, 1, 64, 64) and images.dtype == torch.float32
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(images, data.images[index].float())
    # float32 factors work too; any finite angle is accepted (it wraps around).
    shifted = data.factors[index].clone()
    shifted[:, 1] += 2 * math.pi
    assert torch.equal(oval_images(shifted), images)


def test_quick_grid_and_single_levels():
    assert QUICK_OVAL_GRID.shape == (3, 10, 16, 5) and len(QUICK_OVAL_GRID) == 2400
    quick = oval_dataset(QUICK_OVAL_GRID)
    assert len(quick) == 2400 and quick.images.shape == (2400, 1, 64, 64)
    single = OvalGrid(1, 1, 1, 1)
    assert torch.equal(single.factors(), torch.tensor([[0.75, 0.0, 0.0, 0.0]], dtype=torch.float64))


def test_sample_is_a_reproducible_subset_without_repeats():
    data = oval_dataset(QUICK_OVAL_GRID)
    one = data.sample(100, torch.Generator().manual_seed(0))
    two = data.sample(100, torch.Generator().manual_seed(0))
    other = data.sample(100, torch.Generator().manual_seed(1))
    assert len(one) == 100 and torch.equal(one.factors, two.factors)
    assert not torch.equal(one.factors, other.factors)
    assert one.factors.unique(dim=0).shape[0] == 100
    assert torch.equal(one.images.float(), oval_images(one.factors))
    assert len(data.sample(len(data))) == len(data)
    subset = data.subset(data.factors[:, 2] == 1.0)
    assert len(subset) == 3 * 10 * 5 and (subset.positions[:, 0] == 1.0).all()
    for bad in (0, len(data) + 1, 2.5, True):
        with pytest.raises(ValueError, match="n must be an int"):
            data.sample(bad)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scales": 0}, "OvalGrid.scales must be a positive int"),
        ({"rotations": 2.5}, "OvalGrid.rotations must be a positive int"),
        ({"offsets": True}, "OvalGrid.offsets must be a positive int"),
    ],
)
def test_bad_grids_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OvalGrid(**kwargs)


def test_bad_oval_factors_raise():
    good = torch.tensor([[0.75, 0.3, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        oval_images(good[:, :3])
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        oval_images(good[0])
    for column, value, name in [
        (0, 1.5, "scale"),
        (2, -1.2, "x"),
        (3, OFFSET_RANGE[1] + 0.1, "offset"),
    ]:
        bad = good.clone()
        bad[0, column] = value
        with pytest.raises(ValueError, match=f"{name} must lie in"):
            oval_images(bad)
    bad = good.clone()
    bad[0, 1] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        oval_centres(bad)
    with pytest.raises(ValueError, match="grid must be an OvalGrid"):
        oval_dataset((6, 40, 32, 10))


# --------------------------------------------------------------------------- clips (§5.2)


@pytest.fixture(scope="module")
def clips():
    return mario_clips(2000, seed=0)


def test_clip_shapes_dtypes_and_ranges(clips):
    assert len(clips) == 2000
    assert clips.frames.shape == (2000, 3, 3, 20, 20) and clips.frames.dtype == torch.float32
    assert clips.backgrounds.shape == (2000, 3, 20, 20)
    assert clips.positions.shape == (2000, 3, 2)
    assert clips.frames.min() >= 0 and clips.frames.max() <= 1
    first_two = clips.positions[:, :2]
    assert torch.equal(first_two, first_two.round())
    # Whole pixels uniform on {7, ..., 12}: every value shows up for every coordinate.
    for variable in first_two.reshape(2000, 4).T:
        assert variable.unique().tolist() == [7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    assert clips.positions[:, 2].min() >= 2 and clips.positions[:, 2].max() <= 17


def test_third_position_is_linear_in_the_first_two(clips):
    p = clips.positions
    assert torch.equal(p[:, 2], 2 * p[:, 1] - p[:, 0])
    z = p.reshape(len(clips), 6)
    assert torch.equal((z @ clips.coefficients.T)[:, 4:], z[:, 4:])  # no noise on x3, y3


def test_true_graph_and_coefficients(clips):
    assert clips.variable_names == POSITION_VARIABLES == ("x1", "y1", "x2", "y2", "x3", "y3")
    assert clips.graph.dtype == torch.bool and clips.graph.shape == (6, 6)
    edges = {
        (POSITION_VARIABLES[i], POSITION_VARIABLES[j]) for i, j in clips.graph.nonzero().tolist()
    }
    assert edges == {("x1", "x3"), ("x2", "x3"), ("y1", "y3"), ("y2", "y3")}
    assert torch.equal(clips.graph, clips.coefficients.mT != 0)
    assert torch.equal(clips.coefficients, clips.coefficients.tril(-1))  # a causal order
    assert clips.coefficients[4, 0] == clips.coefficients[5, 1] == -1
    assert clips.coefficients[4, 2] == clips.coefficients[5, 3] == 2


def test_clips_and_backgrounds_are_deterministic_by_seed():
    one, two, other = mario_clips(16, 5), mario_clips(16, 5), mario_clips(16, 6)
    assert torch.equal(one.frames, two.frames) and torch.equal(one.positions, two.positions)
    assert not torch.equal(one.backgrounds, other.backgrounds)
    assert torch.equal(background(3), background(3))
    assert background(3).shape == (3, 20, 20)
    seeded = torch.stack([background(seed) for seed in range(50)])
    assert seeded.flatten(1).unique(dim=0).shape[0] == 50
    gen = torch.Generator().manual_seed(0)
    assert not torch.equal(background(gen), background(gen))


def test_frames_are_the_sprite_pasted_on_the_background(clips):
    assert torch.equal(render_frames(clips.positions, clips.backgrounds), clips.frames)
    changed = (clips.frames != clips.backgrounds[:, None]).any(2)  # (N, 3, 20, 20)
    opaque = int(MARIO_SPRITE[3].sum())
    assert changed.flatten(2).sum(-1).max() <= opaque
    # Every visible sprite pixel differs from the background, clipped ones excepted.
    inside = ((clips.positions >= 3) & (clips.positions <= 16)).all(-1)
    assert (changed.flatten(2).sum(-1)[inside] == opaque).all()


def test_sprite_art_and_background_palettes_never_collide():
    assert MARIO_SPRITE.shape == (4, SPRITE_SIZE, SPRITE_SIZE) == (4, 7, 7)
    alpha = MARIO_SPRITE[3]
    assert set(alpha.unique().tolist()) == {0.0, 1.0} and alpha[3, 3] == 1
    colours = MARIO_SPRITE[:3].flatten(1).T[alpha.flatten() > 0].unique(dim=0)
    assert colours.shape[0] == 3 and colours.min() >= 0 and colours.max() <= 1
    pixels = mario_clips(300, 1).backgrounds.permute(0, 2, 3, 1).reshape(-1, 3)
    distance = (pixels[:, None] - colours[None]).abs().amax(-1)
    assert distance.min() >= 0.05 - 1e-6


def test_sprite_position_recovers_clip_positions_exactly(clips):
    assert torch.equal(sprite_position(clips.frames, clips.backgrounds), clips.positions)


@pytest.mark.parametrize("kind", ["procedural", "black"])
def test_sprite_position_is_exact_when_clipped(kind):
    side = torch.arange(-1, FRAME_SIZE + 1)  # the centre pixel at most one pixel off-frame
    xy = torch.cartesian_prod(side, side).float()
    n = xy.shape[0]
    if kind == "black":  # §5.2 decodes interventions on a black background
        backgrounds = torch.zeros(n, 3, 20, 20)
    else:
        backgrounds = torch.stack([background(seed) for seed in range(n)])
    frames = render_frames(xy[:, None], backgrounds)
    assert torch.equal(sprite_position(frames, backgrounds)[:, 0], xy)
    clipped = (xy <= 2).any(1) | (xy >= 17).any(1)
    visible = (frames[:, 0] != backgrounds).any(1).flatten(1).sum(1)
    assert (visible[clipped] < MARIO_SPRITE[3].sum()).all()


def test_sprite_position_out_of_view_is_nan_and_never_wrong():
    side = torch.arange(-6, FRAME_SIZE + 6)
    xy = torch.cartesian_prod(side, side).float()
    backgrounds = torch.stack([background(seed) for seed in range(xy.shape[0])])
    frames = render_frames(xy[:, None], backgrounds)
    found = sprite_position(frames, backgrounds)[:, 0]
    known = ~found.isnan().any(1)
    assert torch.equal(found[known], xy[known])
    off_frame = ((xy < -3) | (xy > FRAME_SIZE + 2)).any(1)  # the 7x7 box misses the frame
    assert torch.equal(frames[off_frame, 0], backgrounds[off_frame])
    assert not known[off_frame].any()
    assert known.sum() >= (FRAME_SIZE + 2) ** 2


def test_sprite_position_tolerates_noisy_frames(clips):
    noise = 0.03 * torch.randn(clips.frames[:200].shape, generator=torch.Generator().manual_seed(0))
    noisy = (clips.frames[:200] + noise).clamp(0, 1)
    assert torch.equal(sprite_position(noisy, clips.backgrounds[:200]), clips.positions[:200])


def test_render_frames_extrapolates_beyond_three_frames(clips):
    p = clips.positions[:50]
    fourth = 2 * p[:, 2] - p[:, 1]
    longer = torch.cat((p, fourth[:, None]), dim=1).long()  # integer dtypes work too
    frames = render_frames(longer, clips.backgrounds[:50])
    assert frames.shape == (50, 4, 3, 20, 20)
    assert torch.equal(frames[:, :3], clips.frames[:50])
    found = sprite_position(frames, clips.backgrounds[:50])[:, 3]
    in_view = ((fourth >= -1) & (fourth <= FRAME_SIZE)).all(1)
    assert torch.equal(found[in_view], fourth[in_view])


@pytest.mark.parametrize(
    ("n", "seed", "message"),
    [
        (0, 1, "n must be a positive int"),
        (-3, 1, "n must be a positive int"),
        (2.0, 1, "n must be a positive int"),
        (True, 1, "n must be a positive int"),
        (2, -1, "non-negative int seed"),
        (2, "a", "non-negative int seed"),
    ],
)
def test_bad_clip_arguments_raise(n, seed, message):
    with pytest.raises(ValueError, match=message):
        mario_clips(n, seed)


def test_bad_render_and_position_inputs_raise():
    bg = torch.stack([background(0), background(1)])
    pos = torch.full((2, 3, 2), 9.0)
    with pytest.raises(ValueError, match=r"positions must have shape \(N, T, 2\)"):
        render_frames(pos[:, :, 0], bg)
    with pytest.raises(ValueError, match=r"positions must have shape \(N, T, 2\) with N = 2"):
        render_frames(pos[:1], bg)
    with pytest.raises(ValueError, match="at least one frame"):
        render_frames(pos[:, :0], bg)
    with pytest.raises(ValueError, match="whole pixels"):
        render_frames(pos + 0.5, bg)
    with pytest.raises(ValueError, match="finite"):
        render_frames(pos * float("nan"), bg)
    with pytest.raises(ValueError, match=r"backgrounds must have shape \(N, 3, 20, 20\)"):
        render_frames(pos, bg.permute(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        render_frames(pos, bg * 2)
    with pytest.raises(ValueError, match="float tensor"):
        render_frames(pos, (bg * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="non-negative int seed"):
        background(2.5)
    frames = render_frames(pos, bg)
    with pytest.raises(ValueError, match=r"frames must have shape \(N, T, 3, 20, 20\) with N = 2"):
        sprite_position(frames[:1], bg)
    with pytest.raises(ValueError, match=r"frames must have shape"):
        sprite_position(frames[:, 0], bg)
    with pytest.raises(ValueError, match="finite float"):
        sprite_position(frames.to(torch.int64), bg)


def test_ink_positions_invert_the_pixel_map():
    from causalkit.semvae.ovals import QUICK_OVAL_GRID, ink_positions, oval_dataset

    data = oval_dataset(QUICK_OVAL_GRID)
    found = ink_positions(data.images.float())
    assert (found - data.positions).abs().max() < 0.02  # under half a pixel in x and in y
    assert ink_positions(torch.zeros(2, 1, 64, 64)).isnan().all()
    with pytest.raises(ValueError, match="shape"):
        ink_positions(torch.zeros(2, 64, 64))
