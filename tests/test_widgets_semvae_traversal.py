"""The latent noise traversal panel (Fig. 3) without a browser, on small untrained models."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from causalkit import semvae
from causalkit.semvae import CausalOvalVAE, OvalGrid, OvalVAE, oval_images
from widgets.panel import PANELS, Rendered, load_all_panels
from widgets.render import GAP
from widgets.semvae_traversal import (
    BUDGET_MS,
    NOISE_RANGE,
    SWEEP_STEPS,
    TILE,
    NoiseTraversal,
    _position,
    noise_traversal_panel,
)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _models() -> dict[str, OvalVAE | CausalOvalVAE]:
    torch.manual_seed(0)
    models = {"beta1": OvalVAE(), "beta4": OvalVAE(), "causal": CausalOvalVAE()}
    with torch.no_grad():  # σ = (2, 0.5, 1, 1, 1): the sliders are in these units
        models["causal"].sem.log_noise_var.copy_(torch.log(torch.tensor([4.0, 0.25, 1, 1, 1])))
    return models


@pytest.fixture(scope="module")
def traversal() -> NoiseTraversal:
    return NoiseTraversal(_models())


ZERO = [0.0] * 5


def test_render_is_a_png_with_both_pictures(traversal):
    frame = traversal.render("causal", ZERO, 0)
    assert isinstance(frame, Rendered) and frame.png.startswith(b"\x89PNG")
    height, width = _pixels(frame.png).shape[:2]
    assert width == 2 * TILE + 3 * GAP and height > TILE
    assert "causal-prior VAE" in frame.readout and "z<sub>1</sub> = z<sub>0</sub>²" in frame.readout


def test_slider_changes_picture_and_readout(traversal):
    before = traversal.render("causal", ZERO, 1)
    after = traversal.render("causal", [1.5, 0, 0, 0, 0], 1)
    assert after.png != before.png and after.readout != before.readout
    assert "+3.00" in after.readout  # n_0 = 1.5 σ_0 = 3.0 in raw units


def test_noise_is_in_units_of_sigma_and_goes_through_the_sem(traversal):
    result = traversal.traverse("causal", [1.0, -2.0, 0.5, 0, 0], 0)
    assert torch.allclose(result["noise"], torch.tensor([2.0, -1.0, 0.5, 0, 0]))
    # z_0 = n_0, z_1 = z_0² + n_1 (§5.1), the rest z_i = n_i.
    assert torch.allclose(result["z"], torch.tensor([2.0, 3.0, 0.5, 0, 0]))
    beta = traversal.traverse("beta1", [1.0, -2.0, 0.5, 0, 0], 0)
    assert torch.allclose(beta["z"], torch.tensor([1.0, -2.0, 0.5, 0, 0]))  # σ = 1, z = n
    assert result["image"].shape == (64, 64) and result["sweep"].shape == (SWEEP_STEPS, 64, 64)


def test_sweep_ignores_the_swept_slider_but_follows_the_others(traversal):
    a = traversal.traverse("causal", [1.0, 0, 0, 0, 0], 0)["sweep"]
    b = traversal.traverse("causal", [-1.0, 0, 0, 0, 0], 0)["sweep"]
    c = traversal.traverse("causal", [1.0, 2.0, 0, 0, 0], 0)["sweep"]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_dropdown_switches_model(traversal):
    causal = traversal.render("causal", ZERO, 0)
    beta = traversal.render("beta4", ZERO, 0)
    assert "VAE (β = 4)" in beta.readout and "z = n" in beta.readout
    assert causal.png != beta.png


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("beta2", ZERO, 0), "kind must be one of"),
        (("causal", [0.0] * 4, 0), "5 values"),
        (("causal", [3.5, 0, 0, 0, 0], 0), r"\[-3, 3\]"),
        (("causal", [float("nan"), 0, 0, 0, 0], 0), r"\[-3, 3\]"),
        (("causal", ZERO, 5), "sweep must be"),
        (("causal", ZERO, True), "sweep must be"),
    ],
)
def test_render_rejects_bad_controls(traversal, args, message):
    with pytest.raises(ValueError, match=message):
        traversal.render(*args)


def test_constructor_rejects_bad_models():
    with pytest.raises(ValueError, match="non-empty"):
        NoiseTraversal({})
    with pytest.raises(ValueError, match="unknown kind"):
        NoiseTraversal({"vae": OvalVAE()})
    with pytest.raises(ValueError, match="OvalVAE or CausalOvalVAE"):
        NoiseTraversal({"beta1": torch.nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="same number of latents"):
        NoiseTraversal({"beta1": OvalVAE(latent_dim=4), "causal": CausalOvalVAE()})


def test_the_constructor_copies_the_models():
    models = _models()
    traversal = NoiseTraversal(models)
    assert traversal.models["causal"] is not models["causal"]  # the panel never edits a model
    assert all(not model.training for model in traversal.models.values())


def test_from_result_takes_the_three_trained_models(tmp_cache):
    grid = OvalGrid(scales=1, rotations=2, x_positions=4, offsets=2)
    ovals = semvae.OvalsConfig(grid=grid, epochs=1, batch_size=8, num_pivots=2)
    result = semvae.result(semvae.config("quick", ovals=ovals), 0)
    traversal = NoiseTraversal.from_result(result)
    assert list(traversal.models) == ["beta1", "beta4", "causal"]
    for kind, run in result.ovals.items():
        direct = NoiseTraversal({kind: run.model}).traverse(kind, ZERO, 2)["sweep"]
        assert torch.equal(traversal.traverse(kind, ZERO, 2)["sweep"], direct)
    with pytest.raises(ValueError, match=r"semvae\.Result"):
        NoiseTraversal.from_result(_models())


def test_position_readout_reads_app_e_units():
    factors = torch.tensor([[1.0, 0.3, 0.5, 0.1], [0.5, 0.0, -0.8, -0.2]])
    for image, (_, _, x, offset) in zip(oval_images(factors)[:, 0], factors.tolist(), strict=True):
        got_x, got_y = _position(image.numpy())
        assert got_x == pytest.approx(x, abs=0.03)
        assert got_y == pytest.approx(x * x + offset, abs=0.03)
    assert _position(np.zeros((64, 64))) is None


def test_panel_follows_its_controls(traversal):
    panel = noise_traversal_panel(traversal)
    assert set(panel.controls) == {"kind", "sweep", "n0", "n1", "n2", "n3", "n4"}
    assert panel.controls["kind"].value == "causal"
    slider = panel.controls["n1"]
    assert (slider.min, slider.max) == (-NOISE_RANGE, NOISE_RANGE)
    before_png, before_text = panel.figure.value, panel.readout.value
    slider.value = 2.0
    assert panel.figure.value != before_png and panel.readout.value != before_text
    panel.controls["kind"].value = "beta1"
    assert "VAE (β = 1)" in panel.readout.value
    panel.controls["n0"].value = slider.min  # the extremes are renderable
    before_png = panel.figure.value
    panel.controls["sweep"].value = 4
    assert panel.figure.value != before_png and panel.last_render_ms > 0
    assert (
        "rendered in" in panel.latency.value and f"budget {BUDGET_MS:.0f} ms" in panel.latency.value
    )


def test_panel_is_registered_with_its_budget(traversal, monkeypatch):
    import widgets.semvae_traversal as module

    panels = load_all_panels()
    assert panels["semvae_noise_traversal"].budget_ms == BUDGET_MS == 50.0
    # The benchmark's renders vary, without training anything here.
    monkeypatch.setattr(module.NoiseTraversal, "from_result", lambda result: traversal)
    step = PANELS["semvae_noise_traversal"].setup()
    frames = [step(i) for i in range(4)]
    assert all(isinstance(f, Rendered) for f in frames)
    assert len({f.png for f in frames}) == 4


def test_panel_shows_a_render_error(traversal, shows_render_errors):
    shows_render_errors(noise_traversal_panel(traversal))


def test_challenge_one_noise_carries_the_oval_to_the_right_arm(meets_its_challenge):
    # The quick preset's models, trained by the notebook regression test.
    traversal = NoiseTraversal.from_result(semvae.result(semvae.config("quick"), seed=0))
    panel = noise_traversal_panel(traversal)
    d = traversal.latent_dim
    tries = [
        {**{f"n{k}": 0.0 for k in range(d) if k != j}, f"n{j}": value}
        for j in range(d)
        for value in (1.0, 2.0, 3.0, -1.0, -2.0, -3.0)
    ]
    met = meets_its_challenge(panel, tries)
    frame = panel._render(**met)
    assert frame.facts["moved"] == 1 and frame.facts["x"] >= 0.8
