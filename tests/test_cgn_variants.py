"""The MNIST variants of App. A.2 of the CGN paper: correlation, colors, textures, splits."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from causalkit.cgn import (
    BG_COLORS,
    FG_COLORS,
    NO_CLASS,
    VARIANTS,
    MnistVariant,
    TextureFamily,
    make_variant,
    sample_texture,
    texture_bank,
    variants,
)
from causalkit.cgn.variants import COLOR_STD, LUMA, MASK_THRESHOLD, TEXTURE_SIDE
from causalkit.data import mnist

TWO_CUES = ("double_colored", "wildlife")  # variants with a labelled background too


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, str, float | None], MnistVariant]:
    """Every variant: train at the default (1.0) and at 0.9, test at the default (random)."""
    out = {}
    for name in VARIANTS:
        out[name, "train", None] = make_variant(name, "train")
        out[name, "train", 0.9] = make_variant(name, "train", 0.9, seed=1)
        out[name, "test", None] = make_variant(name, "test")
    return out


def agreement(classes: torch.Tensor, labels: torch.Tensor) -> float:
    return (classes == labels).float().mean().item()


def edge_density(crops: torch.Tensor) -> torch.Tensor:
    """Fraction of pixels on a sharp brightness edge: stripes are edges everywhere."""
    luma = (crops * LUMA[None, :, None, None]).sum(1)
    gx = luma[:, 1:-1, 2:] - luma[:, 1:-1, :-2]
    gy = luma[:, 2:, 1:-1] - luma[:, :-2, 1:-1]
    return ((gx**2 + gy**2).sqrt() > 0.15).float().mean((1, 2))


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("name", VARIANTS)
def test_shapes_dtypes_and_ranges(built, name):
    for split, n in (("train", 4000), ("test", 1000)):
        v = built[name, split, None]
        assert (v.name, v.split, len(v)) == (name, split, n)
        assert v.images.shape == (n, 3, 32, 32) and v.images.dtype == torch.float32
        assert v.images.min() >= 0 and v.images.max() <= 1
        assert v.masks.shape == (n, 1, 32, 32) and v.masks.dtype == torch.float32
        assert set(v.masks.unique().tolist()) == {0.0, 1.0}
        for t in (v.labels, v.fg_classes, v.bg_classes, v.digit_index):
            assert t.shape == (n,) and t.dtype == torch.int64
        assert v.fg_classes.min() >= 0 and v.fg_classes.max() < 10
        if name == "colored":
            assert (v.bg_classes == NO_CLASS).all()
        else:
            assert v.bg_classes.min() >= 0 and v.bg_classes.max() < 10


def test_masks_are_the_padded_digits_and_splits_are_disjoint(built):
    digits = mnist(seed=0)
    train, test = built["colored", "train", None], built["colored", "test", None]
    assert set(train.digit_index.tolist()).isdisjoint(test.digit_index.tolist())
    assert len(set(train.digit_index.tolist()) | set(test.digit_index.tolist())) == 5000
    for v in (train, test):
        assert torch.equal(v.labels, digits.labels[v.digit_index])
        assert torch.bincount(v.labels).tolist() == [len(v) // 10] * 10  # stratified
        padded = F.pad(digits.images[v.digit_index], (2, 2, 2, 2))
        assert torch.equal(v.masks[:, 0], (padded > MASK_THRESHOLD).float())
    # The split is fixed: no seed can move a digit from train to test.
    assert torch.equal(make_variant("wildlife", "test", seed=7).digit_index, test.digit_index)


# --------------------------------------------------------------------------- correlation


@pytest.mark.parametrize("name", VARIANTS)
def test_training_cues_agree_with_the_label_at_the_requested_rate(built, name):
    full, ninety = built[name, "train", None], built[name, "train", 0.9]
    assert full.correlation == 1.0 and ninety.correlation == 0.9
    assert agreement(full.fg_classes, full.labels) == 1.0
    # 4,000 draws: the binomial standard error at p = 0.9 is under 0.005.
    assert agreement(ninety.fg_classes, ninety.labels) == pytest.approx(0.9, abs=0.02)
    if name in TWO_CUES:
        assert agreement(full.bg_classes, full.labels) == 1.0
        assert agreement(ninety.bg_classes, ninety.labels) == pytest.approx(0.9, abs=0.02)
        # Foreground and background are drawn independently (separate mechanisms).
        both = (ninety.fg_classes == ninety.labels) & (ninety.bg_classes == ninety.labels)
        assert both.float().mean().item() == pytest.approx(0.81, abs=0.03)


@pytest.mark.parametrize("name", VARIANTS)
def test_test_cues_are_random(built, name):
    v = built[name, "test", None]
    assert v.correlation == pytest.approx(0.1)
    assert agreement(v.fg_classes, v.labels) == pytest.approx(0.1, abs=0.04)
    assert torch.bincount(v.fg_classes, minlength=10).min() > 60  # every class is used
    if name in TWO_CUES:
        assert agreement(v.bg_classes, v.labels) == pytest.approx(0.1, abs=0.04)


def test_mismatches_go_to_the_other_nine_classes():
    never = make_variant("double_colored", "test", 0.0)
    assert agreement(never.fg_classes, never.labels) == 0.0
    assert agreement(never.bg_classes, never.labels) == 0.0
    half = make_variant("double_colored", "train", 0.5, seed=3)
    assert agreement(half.fg_classes, half.labels) == pytest.approx(0.5, abs=0.03)
    offset = (half.fg_classes - half.labels) % 10
    counts = torch.bincount(offset[offset != 0], minlength=10)[1:]
    assert counts.min() > 0.75 * counts.float().mean()  # uniform over the nine others


def test_variants_of_one_seed_share_their_class_assignment():
    a = make_variant("double_colored", "test", 0.9, seed=5)
    b = make_variant("wildlife", "test", 0.9, seed=5)
    assert torch.equal(a.fg_classes, b.fg_classes) and torch.equal(a.bg_classes, b.bg_classes)


# --------------------------------------------------------------------------- appearance


def region_mean(v: MnistVariant, mask_value: float) -> torch.Tensor:
    """Each image's mean color over its foreground (mask 1) or background (mask 0), (N, 3)."""
    where = v.masks == mask_value
    return (v.images * where).sum((2, 3)) / where.sum((2, 3))


def flat_colors(v: MnistVariant, mask_value: float) -> torch.Tensor:
    """Each image's one color in a region, checking that the region is flat."""
    colors = region_mean(v, mask_value)
    where = v.masks == mask_value
    spread = ((v.images - colors[:, :, None, None]) * where).abs().amax((1, 2, 3))
    assert spread.max() < 1e-6
    return colors


@pytest.mark.parametrize("name", ["colored", "double_colored"])
def test_training_colors_are_class_colors_plus_small_noise(built, name):
    v = built[name, "train", None]
    residual = flat_colors(v, 1.0) - FG_COLORS[v.labels]
    assert residual.abs().max() < 5 * COLOR_STD
    assert (residual.abs() < 3 * COLOR_STD).float().mean() > 0.99
    assert residual.std().item() == pytest.approx(COLOR_STD, rel=0.1)
    background = flat_colors(v, 0.0)
    if name == "colored":
        assert (background == 0).all()
    else:
        residual = background - BG_COLORS[v.labels]
        assert residual.abs().max() < 5 * COLOR_STD
        assert residual.std().item() == pytest.approx(COLOR_STD, rel=0.1)


def test_every_digit_color_stands_out_from_every_background_color():
    assert torch.cdist(FG_COLORS, BG_COLORS).min() > 0.4
    for palette in (FG_COLORS, BG_COLORS):
        apart = torch.cdist(palette, palette) + 9 * torch.eye(10)
        # Ten distinct class colors: halfway between two of them is > 4σ from each.
        assert apart.min() > 8 * COLOR_STD


@pytest.mark.parametrize("split", ["train", "test"])
def test_wildlife_textures_encode_the_label_only_in_training(built, split):
    v = built["wildlife", split, None]
    for bank, mask_value, classes in (
        (texture_bank("striped"), 1.0, v.fg_classes),
        (texture_bank("veiny"), 0.0, v.bg_classes),
    ):
        # Decode each region's family from its average color alone: the stripes
        # on a thin digit are a small sample, so this is right ~85 % of the time.
        centroids = bank.mean((2, 3))
        decoded = torch.cdist(region_mean(v, mask_value), centroids).argmin(1)
        assert agreement(decoded, classes) > 0.75
        if split == "train":
            assert agreement(decoded, v.labels) > 0.75
        else:
            assert agreement(decoded, v.labels) < 0.2


def test_striped_and_veiny_families_are_distinguishable():
    gen = torch.Generator().manual_seed(1)
    crops = {
        kind: torch.stack([sample_texture(TextureFamily(kind, k), 100, gen) for k in range(10)])
        for kind in ("striped", "veiny")
    }
    density = {kind: edge_density(stack.flatten(0, 1)) for kind, stack in crops.items()}
    striped, veiny = density["striped"], density["veiny"]
    assert (striped > 0.3).float().mean() > 0.97 and (veiny < 0.3).float().mean() > 0.97
    assert striped.median() > 2 * veiny.median()
    # Within a kind, the ten families differ: a nearest-centroid rule on each
    # crop's color mean and spread tells them apart.
    for stack in crops.values():
        feats = torch.cat([stack.mean((3, 4)), stack.std((3, 4))], dim=2)  # (10, 100, 6)
        nearest = torch.cdist(feats.flatten(0, 1), feats.mean(1)).argmin(1)
        assert agreement(nearest, torch.arange(10).repeat_interleave(100)) > 0.9


def test_texture_families_are_reproducible_from_their_seed():
    family = TextureFamily("veiny", 4, seed=11)
    first = family.image()
    assert first.shape == (3, TEXTURE_SIDE, TEXTURE_SIDE) and 0 <= first.min() <= first.max() <= 1
    variants._bank.cache_clear()  # repaint from scratch, not from the cache
    assert torch.equal(TextureFamily("veiny", 4, seed=11).image(), first)
    assert not torch.equal(TextureFamily("veiny", 4, seed=12).image(), first)
    assert not torch.equal(TextureFamily("veiny", 5, seed=11).image(), first)
    assert not torch.equal(TextureFamily("striped", 4, seed=11).image(), first)
    first[:] = 0  # a copy: the family's own image is untouched
    assert family.image().max() > 0


def test_sample_texture_cuts_windows_of_the_family_image():
    family = TextureFamily("striped", 2)
    crops = sample_texture(family, 8, torch.Generator().manual_seed(0))
    assert crops.shape == (8, 3, 32, 32) and crops.dtype == torch.float32
    image = family.image()
    for crop in crops:
        # Candidate corners are where the crop's corner pixel occurs in the image.
        corners = (image == crop[:, :1, :1]).all(0).nonzero().tolist()
        assert any(
            torch.equal(image[:, i : i + 32, j : j + 32], crop)
            for i, j in corners
            if i <= TEXTURE_SIDE - 32 and j <= TEXTURE_SIDE - 32
        )
    again = sample_texture(family, 8, torch.Generator().manual_seed(0))
    assert torch.equal(crops, again)


# --------------------------------------------------------------------------- seeds, speed


def test_same_seed_same_variant_other_seed_other_draws():
    a = make_variant("wildlife", "test", 0.95, seed=2)
    b = make_variant("wildlife", "test", 0.95, seed=2)
    c = make_variant("wildlife", "test", 0.95, seed=3)
    for field in ("images", "fg_classes", "bg_classes", "masks", "digit_index"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.fg_classes, c.fg_classes)
    assert not torch.equal(a.images, c.images)
    assert torch.equal(a.masks, c.masks)  # the digits themselves do not move
    other_textures = make_variant("wildlife", "test", 0.95, seed=2, texture_seed=1)
    assert not torch.equal(a.images, other_textures.images)


def test_subset_keeps_fields_aligned(built):
    v = built["double_colored", "train", 0.9]
    index = torch.arange(0, 4000, 2)
    part = v.subset(index)
    assert len(part) == 2000 and part.correlation == 0.9
    assert torch.equal(part.images, v.images[index])
    assert torch.equal(part.digit_index, v.digit_index[index])


def test_a_full_variant_builds_fast(built):
    start = time.perf_counter()
    make_variant("wildlife", "train", 0.9, seed=4)
    assert time.perf_counter() - start < 5.0


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "fashion"}, "unknown MNIST variant"),
        ({"split": "valid"}, "split must be one of"),
        ({"correlation": 1.5}, r"correlation must be a probability in \[0, 1\]"),
        ({"correlation": -0.1}, r"correlation must be a probability in \[0, 1\]"),
        ({"correlation": float("nan")}, r"correlation must be a probability in \[0, 1\]"),
        ({"correlation": "high"}, r"correlation must be a probability in \[0, 1\]"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"color_std": -0.01}, "color_std must be a finite number"),
        ({"texture_seed": True}, "texture_seed must be an integer"),
    ],
)
def test_make_variant_rejects_bad_inputs(kwargs, message):
    args = {"name": "colored", "split": "train", **kwargs}
    with pytest.raises(ValueError, match=message):
        make_variant(**args)


def test_texture_functions_reject_bad_inputs():
    with pytest.raises(ValueError, match="kind must be one of"):
        TextureFamily("dotted", 0)
    with pytest.raises(ValueError, match="index must be >= 0 and < 10"):
        TextureFamily("striped", 10)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sample_texture(TextureFamily("striped", 0), 0)
    with pytest.raises(ValueError, match="family must be a TextureFamily"):
        sample_texture(("striped", 0), 4)  # type: ignore[arg-type]
