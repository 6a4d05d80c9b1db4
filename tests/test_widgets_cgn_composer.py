"""The CGN live composer (Fig. 2, 3) without a browser, on a small untrained CGN."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from causalkit.cgn import CGN, compose, counterfactual_grid
from widgets.cgn_composer import (
    BUDGET_MS,
    CELL,
    PARTS,
    SEED_MAX,
    SIDE,
    TILE,
    CGNComposer,
    cgn_composer_panel,
    demo_cgn,
    grid_origin,
    grid_seed,
    grid_size,
    noise,
    tile_origin,
)
from widgets.panel import PANELS, Rendered, load_all_panels
from widgets.render import to_uint8


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _upscaled(image: torch.Tensor, zoom: int) -> np.ndarray:
    return np.repeat(np.repeat(to_uint8(image), zoom, axis=0), zoom, axis=1)


@pytest.fixture(scope="module")
def cgn() -> CGN:
    return demo_cgn(seed=0, device="cpu")


@pytest.fixture(scope="module")
def composer(cgn) -> CGNComposer:
    return CGNComposer(cgn)


def test_parts_are_the_mechanisms_with_their_own_classes_and_noise(composer, cgn):
    result = composer.generate(
        3, 5, 7, shape_seed=1, foreground_seed=2, background_seed=3, shuffle_seed=4
    )
    # The same computation by hand: u from each seed, one shuffle generator for both textures.
    u = [
        torch.randn(1, cgn.latent_dim, generator=torch.Generator().manual_seed(s))
        for s in (1, 2, 3)
    ]
    shuffle = torch.Generator().manual_seed(4)
    with torch.no_grad():
        mask = cgn.f_shape(u[0], torch.tensor([3]))
        fg = cgn.f_text1(u[1], torch.tensor([5]), shuffle)
        bg = cgn.f_text2(u[2], torch.tensor([7]), shuffle)
    assert result["mask"].shape == (1, SIDE, SIDE) and result["composite"].shape == (3, SIDE, SIDE)
    torch.testing.assert_close(result["mask"], mask[0])
    torch.testing.assert_close(result["foreground"], fg[0])
    torch.testing.assert_close(result["background"], bg[0])
    torch.testing.assert_close(result["composite"], compose(mask, fg, bg)[0])
    torch.testing.assert_close(result["mu_mask"], mask.mean())
    assert torch.equal(noise(2, cgn.latent_dim), u[1])


def test_png_shows_the_four_parts_side_by_side(composer):
    result = composer.generate(2, 8, 4, 5, 6, 7, 8)
    frame = composer.render(2, 8, 4, 5, 6, 7, 8)
    assert isinstance(frame, Rendered) and frame.png.startswith(b"\x89PNG")
    pixels = _pixels(frame.png)
    zoom = TILE // SIDE
    assert pixels.shape[1] > len(PARTS) * TILE
    for k, part in enumerate(PARTS):
        x, y = tile_origin(k)
        shown = pixels[y : y + TILE, x : x + TILE]
        np.testing.assert_array_equal(shown, _upscaled(result[part], zoom), err_msg=part)
    # The composite tile is the composer's blend of the other three tiles' values.
    blend = compose(result["mask"][None], result["foreground"][None], result["background"][None])
    np.testing.assert_array_equal(_upscaled(blend[0], zoom), _upscaled(result["composite"], zoom))


def test_same_seeds_same_picture_other_seeds_another(composer):
    args = (1, 6, 9, 11, 12, 13, 14)
    first, again = composer.render(*args), composer.render(*args)
    assert first.png == again.png and first.readout == again.readout
    for k in range(3, 7):  # each seed changes the picture
        changed = list(args)
        changed[k] += 1
        assert composer.render(*changed).png != first.png, f"seed #{k - 3} had no effect"


def _changed(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> set[str]:
    return {part for part in PARTS if not torch.equal(a[part], b[part])}


@pytest.mark.parametrize(
    ("index", "value", "moved"),
    [
        (0, 6, {"mask", "composite"}),  # shape class: f_shape only
        (1, 6, {"foreground", "composite"}),  # texture class: f_text,1 only
        (2, 6, {"background", "composite"}),  # background class: f_text,2 only
        (3, 9, {"mask", "composite"}),  # u_shape
        (4, 9, {"foreground", "composite"}),  # u_fg
        (5, 9, {"background", "composite"}),  # u_bg
        (6, 9, {"foreground", "background", "composite"}),  # the textures' patch shuffle
    ],
)
def test_each_control_moves_only_its_own_mechanism(composer, index, value, moved):
    base = [2, 2, 2, 1, 1, 1, 1]
    changed = list(base)
    changed[index] = value
    assert _changed(composer.generate(*base), composer.generate(*changed)) == moved


def test_readout_names_classes_mu_and_counterfactual(composer):
    factual = composer.render(4, 4, 4)
    assert "not a counterfactual" in factual.readout
    mu = float(composer.generate(4, 4, 4)["mu_mask"])
    assert f"μ<sub>mask</sub> = {mu:.3f}" in factual.readout
    counterfactual = composer.render(4, 1, 4)
    assert "<b>counterfactual</b>" in counterfactual.readout
    assert "shape <b>4</b>, texture <b>1</b>, background <b>4</b>" in counterfactual.readout
    assert "on cpu" in counterfactual.readout


def test_render_uses_eval_mode_and_restores_the_mode(cgn):
    composer = CGNComposer(cgn)
    expected = composer.generate(0, 1, 2)
    cgn.train()
    try:
        # Batch norm in training mode would normalise a batch of one; eval uses running stats.
        assert _changed(composer.generate(0, 1, 2), expected) == set()
        assert cgn.training
        composer.grid(3)
        assert cgn.training
    finally:
        cgn.eval()
    assert not composer.generate(0, 1, 2)["mask"].requires_grad


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": 10}, r"shape must be a class in 0\.\.9, got 10"),
        ({"foreground": -1}, r"foreground must be a class in 0\.\.9, got -1"),
        ({"background": 2.0}, r"background must be an integer class in 0\.\.9, got 2\.0"),
        ({"shape": True}, r"shape must be an integer class"),
        ({"background": "3"}, r"background must be an integer class"),
        ({"shape_seed": -1}, r"shape_seed must be a seed in 0\.\.2\*\*63 - 1, got -1"),
        ({"foreground_seed": 1.5}, r"foreground_seed must be an integer seed, got 1.5"),
        ({"background_seed": None}, r"background_seed must be an integer seed"),
        ({"shuffle_seed": 2**63}, r"shuffle_seed must be a seed"),
    ],
)
def test_render_rejects_bad_controls(composer, kwargs, message):
    args = {"shape": 0, "foreground": 0, "background": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        composer.render(**args)


def test_numpy_integers_are_accepted(composer):
    a = composer.render(np.int64(3), np.int32(4), 5, shape_seed=np.int64(2))
    assert a.png == composer.render(3, 4, 5, shape_seed=2).png


def test_constructor_and_panel_reject_a_non_cgn():
    with pytest.raises(ValueError, match="cgn must be a CGN"):
        CGNComposer(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="cgn must be a CGN"):
        cgn_composer_panel(None)


def test_grid_is_fig3_for_the_background_class(composer, cgn):
    cells = composer.grid(7, seed=3)
    assert cells.shape == (10, 10, 3, SIDE, SIDE)
    expected = counterfactual_grid(
        cgn, range(10), range(10), background=7, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(cells, expected)
    # Rows share a mask, columns a foreground: row 2 and row 5 differ, each row's cells too.
    assert not torch.equal(cells[2], cells[5]) and not torch.equal(cells[2, 0], cells[2, 1])
    with pytest.raises(ValueError, match=r"background must be a class in 0\.\.9"):
        composer.grid(10)
    with pytest.raises(ValueError, match="seed must be an integer seed"):
        composer.grid(0, seed=0.5)


def test_grid_png_has_the_expected_size_and_cells(composer):
    frame = composer.render_grid(7, seed=3, current=(4, 6))
    pixels = _pixels(frame.png)
    width, height = grid_size(10, 10)
    assert pixels.shape == (height, width, 3)
    assert width > 10 * CELL and height > 10 * CELL  # room for the class labels
    cells = composer.grid(7, seed=3)
    for i, j in [(0, 0), (9, 9), (2, 7), (4, 6)]:
        x, y = grid_origin(i, j)
        np.testing.assert_array_equal(
            pixels[y : y + CELL, x : x + CELL], _upscaled(cells[i, j], CELL // SIDE)
        )
    x, y = grid_origin(4, 6)
    assert tuple(pixels[y + CELL // 2, x - 1]) == (220, 40, 40)  # the current cell is framed
    x, y = grid_origin(2, 7)
    assert tuple(pixels[y + CELL // 2, x - 1]) == (255, 255, 255)  # no other cell is
    assert "background class <b>7</b>" in frame.readout and "10 × 10" in frame.readout
    assert grid_seed(1, 2, 3, 4) == grid_seed(1, 2, 3, 4) != grid_seed(1, 2, 3, 5)


def test_panel_follows_its_controls_and_draws_the_grid_on_demand(cgn):
    panel = cgn_composer_panel(cgn, title="test composer")
    assert list(panel.controls) == [
        "shape",
        "foreground",
        "background",
        "shape_seed",
        "foreground_seed",
        "background_seed",
        "shuffle_seed",
    ]
    assert (panel.controls["shape"].min, panel.controls["shape"].max) == (0, 9)
    assert panel.controls["shuffle_seed"].max == SEED_MAX
    assert "not a counterfactual" in panel.readout.value
    before_png, before_text = panel.figure.value, panel.readout.value
    panel.controls["shape"].value = 3
    assert panel.figure.value != before_png and "shape <b>3</b>" in panel.readout.value
    assert "<b>counterfactual</b>" in panel.readout.value and panel.readout.value != before_text
    before_png = panel.figure.value
    panel.controls["background_seed"].value = 5
    assert panel.figure.value != before_png and "u<sub>bg</sub> 5" in panel.readout.value
    assert panel.last_render_ms > 0 and f"budget {BUDGET_MS:.0f} ms" in panel.latency.value

    # The grid is drawn only when the button is pressed, not on slider moves.
    assert panel.grid_image.value == b"" and panel.grid_image.layout.display == "none"
    panel.controls["background"].value = 6
    assert panel.grid_image.value == b""
    panel.grid_button.click()
    grid = _pixels(panel.grid_image.value)
    assert grid.shape[:2] == grid_size(10, 10)[::-1] and panel.grid_image.layout.display is None
    assert "background class <b>6</b>" in panel.grid_readout.value
    drawn = panel.grid_image.value
    panel.controls["background"].value = 2  # the grid stays, its caption says it is stale
    assert panel.grid_image.value == drawn and "now 2" in panel.grid_readout.value
    panel.grid_button.click()
    assert panel.grid_image.value != drawn and "now 2" not in panel.grid_readout.value
    assert "background class <b>2</b>" in panel.grid_readout.value
    assert panel.grid_image in panel.widget.children


def test_demo_cgn_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = demo_cgn(seed=0, device="cpu"), demo_cgn(seed=0, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert not a.training and isinstance(a, CGN)


def test_panel_is_registered_with_its_budget():
    panels = load_all_panels()
    assert panels["cgn_composer"].budget_ms == BUDGET_MS == 50.0
    step = PANELS["cgn_composer"].setup()
    frames = [step(i) for i in range(4)]
    assert all(isinstance(f, Rendered) for f in frames)
    assert len({f.png for f in frames}) == 4


def test_panel_shows_a_render_error(cgn, shows_render_errors):
    shows_render_errors(cgn_composer_panel(cgn))


def test_panel_challenge_three_classes_with_a_visible_shape(cgn, meets_its_challenge):
    panel = cgn_composer_panel(cgn)
    tries = [{"shape": 1, "foreground": 1, "background": 1}]  # one class: not a counterfactual
    tries += [{"shape": 1, "foreground": 2, "background": 3, "shape_seed": s} for s in range(20)]
    met = meets_its_challenge(panel, tries)
    frame = panel._render(**met)
    assert len(set(frame.facts["classes"])) == 3 and frame.facts["mu_mask"] >= 0.1


def test_a_click_on_a_class_thumbnail_picks_that_class(cgn, pointer_events):
    from widgets.cgn_composer import _STRIP_GAP, THUMB

    panel = cgn_composer_panel(cgn)
    strip = panel.strips.images["foreground"].value
    picture = panel.figure.value
    pointer_events(
        panel.strips.pointers["foreground"], "mousedown", 7 * (THUMB + _STRIP_GAP) + 9, 9
    )
    assert panel.controls["foreground"].value == 7
    assert panel.frame.facts["classes"] == (0, 7, 0) and panel.figure.value != picture
    assert panel.strips.images["foreground"].value != strip  # the frame moved to class 7
    pointer_events(panel.strips.pointers["background"], "mousedown", 10_000, 9)  # past the end
    assert panel.controls["background"].value == 0


def test_the_variant_switch_changes_the_cgn(pointer_events):
    panel = cgn_composer_panel({"colored": demo_cgn(seed=0), "wildlife": demo_cgn(seed=1)})
    assert next(iter(panel.controls)) == "variant"
    picture, thumbs = panel.figure.value, panel.strips.images["shape"].value
    panel.controls["variant"].value = "wildlife"
    assert panel.figure.value != picture and panel.strips.images["shape"].value != thumbs
    with pytest.raises(ValueError, match="variant must be one of colored, wildlife"):
        panel._render(**{**panel.values(), "variant": "plain"})
    with pytest.raises(ValueError, match="non-empty mapping"):
        cgn_composer_panel({})
