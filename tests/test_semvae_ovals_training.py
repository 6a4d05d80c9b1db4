"""The ovals experiment of §5.1 / App. E: configs, cached training, and Fig. 2's measurement.

Training runs on a 16-image grid for a few dozen iterations, so the whole file takes seconds.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from causalkit import semvae
from causalkit.semvae import CausalOvalVAE, OvalGrid, OvalsConfig, OvalVAE, oval_dataset
from causalkit.semvae.analysis import (
    LatentResponse,
    abs_correlation,
    correlation_ratio,
    encode_means,
    latent_noise,
    latent_response,
    noise_std,
    prior_fit,
    response_from_codes,
)
from causalkit.semvae.model import KINDS, build_oval_model
from causalkit.semvae.train import train_oval_vae

TINY_GRID = OvalGrid(scales=1, rotations=2, x_positions=4, offsets=2)  # 16 images
# Adam at 1e-2: a 40-iteration run must visibly lower the loss, which App. E's Adagrad at
# 0.003 does not promise in so few steps.
TINY = OvalsConfig(grid=TINY_GRID, epochs=20, batch_size=8, optimizer="adam", lr=1e-2, num_pivots=4)


def _tiny(**changes: object) -> semvae.SemvaeConfig:
    """The quick preset with the tiny ovals config (and ``changes`` to it)."""
    return semvae.config("quick", ovals=dataclasses.replace(TINY, **changes))


# --------------------------------------------------------------------------- config


def test_presets_follow_app_e():
    paper = semvae.config("paper").ovals
    assert paper.grid.shape == (6, 40, 32, 10) and len(paper.grid) == 76_800
    assert (paper.batch_size, paper.optimizer, paper.lr) == (100, "adagrad", 0.003)
    assert (paper.hidden, paper.latents) == (64, 5)
    quick = semvae.config("quick").ovals
    assert len(quick.grid) < len(paper.grid) and quick.batch_size == 100
    assert set(semvae.PRESETS) == {"quick", "paper"}
    with pytest.raises(ValueError, match="unknown preset"):
        semvae.config("huge")


def test_the_seed_lives_only_in_result():
    assert "seed" not in {f.name for f in dataclasses.fields(OvalsConfig)}
    with pytest.raises(TypeError):
        OvalsConfig(seed=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"batch_size": True}, "batch_size"),
        ({"batch_size": 17}, "must not exceed"),
        ({"hidden": -1}, "hidden"),
        ({"num_pivots": 0}, "num_pivots"),
        ({"latents": 1}, "latents"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"reconstruction": "l1"}, "reconstruction"),
        ({"pivot": "nearest"}, "pivot must be one of"),
        ({"grid": (1, 2, 4, 2)}, "OvalGrid"),
    ],
)
def test_config_rejects_bad_values(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TINY, **change)


def test_bad_kind_config_or_seed_is_refused(tmp_cache):
    with pytest.raises(ValueError, match="kind must be one of"):
        semvae.result(_tiny(), 0).oval("beta2")
    with pytest.raises(ValueError, match="kind must be one of"):
        build_oval_model("vae")
    with pytest.raises(ValueError, match="kind must be one of"):
        train_oval_vae(TINY, "beta2", 0)
    with pytest.raises(ValueError, match="OvalsConfig"):
        semvae.SemvaeConfig(ovals={"epochs": 1})
    with pytest.raises(ValueError, match="SemvaeConfig"):
        semvae.result(TINY, 0)
    with pytest.raises(ValueError, match="seed"):
        semvae.result(_tiny(), -3)
    assert not tmp_cache.exists() or not any(tmp_cache.iterdir())


def test_build_oval_model_kinds():
    assert type(build_oval_model("beta1")) is OvalVAE
    causal = build_oval_model("causal", latents=3, hidden=8, num_pivots=5)
    assert isinstance(causal, CausalOvalVAE) and causal.num_pivots == 5
    assert causal.latent_dim == 3 and causal.pivot == "closest"
    assert build_oval_model("causal", pivot="posterior-mean").pivot == "posterior-mean"


# --------------------------------------------------------------------------- training


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_training_is_deterministic_cached_and_learns(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / "a"))
    first = semvae.result(_tiny(), 3).oval(kind)
    curve = first.curve
    assert set(curve) == {"total", "reconstruction", "kl"}
    assert all(c.shape == (TINY.epochs,) for c in curve.values())
    assert curve["total"][-3:].mean() < 0.8 * curve["total"][:3].mean()
    assert first.iterations == TINY.epochs * 2 and first.train_seconds > 0
    assert not first.model.training
    assert all(v.device.type == "cpu" for v in first.model.state_dict().values())
    # One entry per (config, kind, seed); a new result reads it back (nothing retrained).
    assert len(list((tmp_path / "a").glob("semvae-ovals-*.pt"))) == 1
    assert semvae.result(_tiny(), 3).oval(kind).train_seconds == first.train_seconds
    # A cold cache and the same seed retrain to identical weights; another seed does not.
    monkeypatch.setenv("CAUSALKIT_CACHE", str(tmp_path / "b"))
    again = semvae.result(_tiny(), 3).oval(kind)
    assert _same_state(first.model.state_dict(), again.model.state_dict())
    assert torch.equal(first.curve["total"], again.curve["total"])
    other = semvae.result(_tiny(), 4).oval(kind)
    assert not _same_state(first.model.state_dict(), other.model.state_dict())


def test_pivot_settings_retrain_only_the_causal_prior(tmp_cache):
    closest = semvae.result(_tiny(epochs=1), 0)
    at_mean = semvae.result(_tiny(epochs=1, pivot="posterior-mean", num_pivots=8), 0)
    assert closest.oval("causal").model.pivot == "closest"
    assert isinstance(at_mean.oval("causal").model, CausalOvalVAE)
    assert at_mean.oval("causal").model.pivot == "posterior-mean"
    # The β-VAEs draw no pivots, so both configs share their trained runs.
    assert at_mean.oval("beta1").train_seconds == closest.oval("beta1").train_seconds
    assert len(list(tmp_cache.glob("semvae-ovals-*.pt"))) == 3


def test_result_trains_each_part_once_and_measures_every_kind(tmp_cache):
    result = semvae.result(_tiny(epochs=1), 0)
    assert result.oval("beta4") is result.oval("beta4")
    assert list(result.ovals) == list(KINDS)
    assert len(result.oval_data) == len(TINY_GRID)
    assert list(result.responses) == list(KINDS)
    for kind, run in result.ovals.items():
        assert run.kind == kind and not run.model.training
        response = result.responses[kind]
        assert isinstance(response, LatentResponse)
        assert response.x.shape == (TINY.latents,)


# --------------------------------------------------------------------------- Fig. 2, measured


@pytest.fixture(scope="module")
def grid_factors() -> torch.Tensor:
    return OvalGrid(scales=3, rotations=8, x_positions=6, offsets=4).factors()


def test_correlation_helpers_match_hand_values():
    values = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 5.0]], dtype=torch.float64)
    # Groups {1, 2} and {3, 4}: between = 2 (1.5-2.5)² + 2 (3.5-2.5)² = 4, total = 5.
    eta = correlation_ratio(values, torch.tensor([0, 0, 1, 1]))
    assert eta[0].item() == pytest.approx(math.sqrt(0.8)) and eta[1].item() == 0.0
    r = abs_correlation(values, -2 * values[:, 0])
    assert r[0].item() == pytest.approx(1.0) and r[1].item() == 0.0  # constant column: 0, not NaN


def test_response_recovers_known_codes(grid_factors):
    scale, rotation, x, offset = grid_factors.unbind(1)
    noise = torch.stack(
        (
            x,
            offset,
            scale,
            torch.cos(2 * rotation),
            torch.randn(len(x), generator=torch.Generator().manual_seed(0)),
        ),
        dim=1,
    )
    response = response_from_codes(noise, grid_factors)
    assert (response.x_latent, response.offset_latent) == (0, 1)
    assert response.x_corr == pytest.approx(1.0) and response.offset_corr == pytest.approx(1.0)
    # On a full factorial grid a position-only latent has group means equal for every scale and
    # rotation level: η is 0 up to rounding, so the nuisance response of x and offset is ~0.
    assert response.nuisance_corr < 1e-6
    assert response.scale[2].item() == pytest.approx(1.0)
    # A cyclic code of rotation: η sees it fully, a linear r with the angle would not.
    assert response.rotation[3].item() == pytest.approx(1.0)
    assert abs_correlation(noise[:, 3:4], rotation).item() < 0.5
    assert response.nuisance.shape == (5,) and (response.nuisance >= 0).all()
    assert set(response.summary()) == {
        "x_corr",
        "offset_corr",
        "nuisance_corr",
        "x_latent",
        "offset_latent",
    }


def test_offset_latent_is_a_different_latent(grid_factors):
    _, _, x, offset = grid_factors.unbind(1)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(len(x), 3, generator=g, dtype=torch.float64)
    noise[:, 0] = x + 2 * offset  # the best latent with x *and* with the offset
    noise[:, 2] = offset + 0.4 * noise[:, 2]  # second best with the offset
    response = response_from_codes(noise, grid_factors)
    assert response.x_latent == 0 and response.offset[0] > response.offset[2]
    assert response.offset_latent == 2
    assert response.offset_corr == pytest.approx(response.offset[2].item())


def test_y_response_reads_the_latents(grid_factors):
    _, _, x, offset = grid_factors.unbind(1)
    y = x.square() + offset
    noise = torch.stack((x, offset), dim=1)
    latents = torch.stack((x, y), dim=1)  # a causal model's z: z_1 = z_0² + n_1
    response = response_from_codes(noise, grid_factors, latents)
    assert response.y[1].item() == pytest.approx(1.0)
    assert response.offset[1].item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("noise", "factors", "message"),
    [
        (torch.zeros(10, 1), torch.zeros(10, 4), "d ≥ 2"),
        (torch.zeros(10, 3), torch.zeros(9, 4), "factors must have shape"),
        (torch.full((10, 3), float("nan")), torch.zeros(10, 4), "finite"),
    ],
)
def test_response_rejects_bad_codes(noise, factors, message):
    with pytest.raises(ValueError, match=message):
        response_from_codes(noise, factors)


def test_latent_noise_inverts_the_parabola():
    torch.manual_seed(0)
    z = torch.randn(6, 5, dtype=torch.float64)
    noise = latent_noise(CausalOvalVAE(), z)
    expected = z.clone()
    expected[:, 1] -= z[:, 0].square()
    assert torch.allclose(noise, expected, atol=1e-5)
    assert torch.equal(latent_noise(OvalVAE(), z), z)
    with torch.no_grad():
        model = CausalOvalVAE()
        model.sem.log_noise_var.copy_(torch.log(torch.tensor([4.0, 1, 1, 1, 1])))
    assert torch.allclose(noise_std(model), torch.tensor([2.0, 1, 1, 1, 1]))
    assert torch.equal(noise_std(OvalVAE()), torch.ones(5))


def test_latent_response_on_an_untrained_model():
    torch.manual_seed(0)
    dataset = oval_dataset(OvalGrid(scales=2, rotations=2, x_positions=3, offsets=2))
    model = CausalOvalVAE().eval()
    z = encode_means(model, dataset.images)
    assert z.shape == (len(dataset), 5) and z.dtype == torch.float64
    response = latent_response(model, dataset)
    for values in (response.x, response.offset, response.y, response.scale, response.rotation):
        assert values.shape == (5,) and ((values >= 0) & (values <= 1)).all()
    assert response.offset_latent != response.x_latent
    with pytest.raises(ValueError, match="OvalDataset"):
        latent_response(model, dataset.images)
    with pytest.raises(ValueError, match="OvalVAE"):
        encode_means(torch.nn.Linear(2, 2), dataset.images)


# --------------------------------------------------------------------------- prior fit


def _fixed_posterior(model: CausalOvalVAE, mean: list[float]) -> None:
    """Make the encoder return one posterior N(mean, 0.05² I) for every image."""
    centre = torch.tensor(mean)
    model.encode = lambda x: (  # type: ignore[method-assign]
        centre.expand(len(x), -1).clone(),
        0.05 * torch.eye(len(mean)).expand(len(x), -1, -1).clone(),
    )


def test_prior_fit_sees_a_posterior_below_the_parabola():
    data = oval_dataset(OvalGrid(scales=1, rotations=2, x_positions=4, offsets=2))
    model = CausalOvalVAE(num_pivots=256)
    _fixed_posterior(model, [1.0, 1.0, 0.0, 0.0, 0.0])  # on z_1 = z_0²
    on = prior_fit(model, data, n=8, samples=4000)
    assert on.below_parabola == 0.0 and abs(on.sem_kl - on.loss_kl) < 0.2
    _fixed_posterior(model, [0.0, -6.0, 0.0, 0.0, 0.0])  # 6 σ_1 under it
    under = prior_fit(model, data, n=8, samples=4000)
    assert under.below_parabola == 1.0 and under.sem_kl - under.loss_kl > 15
    model.pivot = "posterior-mean"  # the loss's KL now sees what the SEM charges
    closed = prior_fit(model, data, n=8, samples=4000)
    assert closed.below_parabola == 1.0 and abs(closed.sem_kl - closed.loss_kl) < 0.2


def test_prior_fit_refuses_bad_input():
    data = oval_dataset(OvalGrid(scales=1, rotations=1, x_positions=2, offsets=2))
    with pytest.raises(ValueError, match="CausalOvalVAE"):
        prior_fit(OvalVAE(), data)
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 4\]"):
        prior_fit(CausalOvalVAE(), data, n=5)
