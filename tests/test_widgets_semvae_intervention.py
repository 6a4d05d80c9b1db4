"""The Mario intervention panel's pure layer: do() on a latent, its children, the decoded frames."""

from __future__ import annotations

import pytest
import torch

from causalkit import semvae
from causalkit.semvae.mario import mario_clips
from causalkit.semvae.temporal import TemporalCausalVAE
from widgets.panel import PANELS, Rendered, load_all_panels
from widgets.semvae_intervention import MarioIntervention, mario_intervention_panel


@pytest.fixture(scope="module")
def view() -> MarioIntervention:
    torch.manual_seed(0)
    model = TemporalCausalVAE().eval()
    with torch.no_grad():  # the true SEM on latents 0 and 1 of each frame: x3 = 2 x2 - x1
        model.sem.weight.zero_()
        model.sem.edge_logits.fill_(-20.0)
        for a in (0, 1):
            model.sem.weight[8 + a, a], model.sem.weight[8 + a, 4 + a] = -1.0, 2.0
            model.sem.edge_logits[a, 8 + a] = model.sem.edge_logits[4 + a, 8 + a] = 20.0
    return MarioIntervention(model, mario_clips(5, seed=1))


def test_intervention_reaches_exactly_the_descendants(view):
    assert view.children(0) == [8] and view.children(5) == [9] and view.children(2) == []
    result = view.intervene(clip=1, latent=0, value=2.0)
    changed = (result["z_after"] - result["z_before"]).abs() > 1e-6
    assert changed.nonzero().flatten().tolist() == [0, 8]
    # The SEM's weight -1 carries the shift to the child with the opposite sign.
    shift = result["z_after"][0] - result["z_before"][0]
    torch.testing.assert_close(result["z_after"][8] - result["z_before"][8], -shift)
    unchanged = view.intervene(clip=1, latent=0, value=0.0)
    torch.testing.assert_close(unchanged["z_after"], unchanged["z_before"])


def test_render_shows_the_frames_and_the_extrapolation(view):
    result = view.intervene(clip=0, latent=4, value=1.0, ahead=3)
    assert result["before"].shape == (3, 3, 20, 20) and result["after"].shape == (6, 3, 20, 20)
    assert result["where_after"].shape == (6, 2)
    frame = view.render(0, 4, 1.0, 3)
    assert frame.png.startswith(b"\x89PNG") and "do(<b>z5</b>" in frame.readout
    assert "reaches z9" in frame.readout
    assert view.render(0, 4, -1.0, 0).readout != frame.readout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 0, 1.0), "clip must be"),
        ((0, 12, 1.0), "latent must be"),
        ((0, 0, float("nan")), "value must be finite"),
        ((0, 0, 1.0, 9), "ahead must be"),
    ],
)
def test_bad_controls_are_refused(view, args, message):
    with pytest.raises(ValueError, match=message):
        view.render(*args)


def test_panel_follows_its_controls_and_is_registered(view, monkeypatch):
    panel = mario_intervention_panel(view)
    first = panel.readout.value
    panel.controls["latent"].value = 5
    assert panel.readout.value != first and "do(<b>z6</b>" in panel.readout.value
    assert "semvae_mario_intervention" in load_all_panels()
    # The benchmark's renders vary, without training anything here.
    monkeypatch.setattr(MarioIntervention, "from_result", lambda result: view)
    step = PANELS["semvae_mario_intervention"].setup()
    frames = [step(i) for i in range(3)]
    assert all(isinstance(f, Rendered) for f in frames)
    assert len({f.readout for f in frames}) == 3


def test_from_result_takes_the_selected_model_and_held_out_clips(tmp_cache):
    mario = semvae.MarioConfig(
        clips=40, eval_clips=4, epochs=1, batch_size=20, sparsity_weights=(1.0,)
    )
    result = semvae.result(semvae.config("quick", mario=mario), 0)
    view = MarioIntervention.from_result(result)
    assert view.model is result.mario.model and view.clips is result.eval_clips
    assert len(view.clips) == 4 and view.num_latents == 12
    with pytest.raises(ValueError, match=r"semvae\.Result"):
        MarioIntervention.from_result(result.mario)


def test_sprite_overlay_tints_each_frame():
    from widgets.semvae_intervention import sprite_overlay

    sprites = torch.zeros(3, 20, 20)
    sprites[0, 0, 0] = sprites[1, 5, 5] = sprites[2, 9, 9] = 1.0
    overlay = sprite_overlay(sprites)
    assert overlay.shape == (20, 20, 3) and overlay[1, 1].max() == 0  # black elsewhere
    assert overlay[0, 0].tolist() == [1.0, 0.2, 0.2]  # frame 1 red
    assert overlay[5, 5].tolist() == [1.0, 1.0, 1.0]  # frame 2 white
    assert overlay[9, 9].tolist() == [0.2, 1.0, 0.2]  # frame 3 green


def test_panel_shows_a_render_error(view, shows_render_errors):
    shows_render_errors(mario_intervention_panel(view))


@pytest.mark.parametrize(
    "args", [(True, 0, 1.0), (0, True, 1.0), (0, 0, float("nan")), (0, 0, 1.0, True)]
)
def test_render_refuses_a_bool_index_or_a_non_finite_value(view, args):
    with pytest.raises(ValueError, match="must be"):
        view.render(*args)


def test_challenge_a_latent_that_moves_nothing(meets_its_challenge):
    # The quick preset's Mario model, trained by the notebook regression test.
    view = MarioIntervention.from_result(semvae.result(semvae.config("quick"), seed=0))
    panel = mario_intervention_panel(view)
    tries = [{"value": 3.0, "latent": latent} for latent in range(view.num_latents)]
    met = meets_its_challenge(panel, tries)
    assert panel._render(**met).facts["moved_frames"] == []
    moved = panel._render(**{**met, "latent": 0}).facts["moved_frames"]
    assert moved, "z1 should move the sprite: the challenge would be met everywhere"


def test_dragging_the_shift_moves_the_frames(pointer_events):
    view = MarioIntervention.from_result(semvae.result(semvae.config("quick"), seed=0))
    panel = mario_intervention_panel(view)
    strip = panel.value_strip
    pointer_events(strip.pointer, "mousedown", strip.x_of(0.0), 20)
    assert panel.controls["value"].value == 0.0 and panel.frame.facts["moved_frames"] == []
    pointer_events(strip.pointer, "mousemove", strip.x_of(3.0), 20)
    assert panel.controls["value"].value == 3.0
    assert panel.frame.facts["moved_frames"], "do(z1 + 3 sd) should move the sprite"
    pointer_events(strip.pointer, "mouseup", strip.x_of(3.0), 20)
