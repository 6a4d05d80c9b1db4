"""NCC (Lopez-Paz et al. 2017): §3.1 generator, Eq. 5 symmetry, training, baselines, Tübingen."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from causalkit.data import tuebingen_pairs
from causalkit.ncc import baselines, config, result
from causalkit.ncc.experiment import TUNED_GENERATOR, NccConfig, member_seeds
from causalkit.ncc.model import NCC, symmetric_composite
from causalkit.ncc.synthetic import (
    MAX_COMPONENTS,
    GeneratorConfig,
    PairParams,
    draw_params,
    finite_difference_slopes,
    hermite_spline,
    pair_from_params,
    pairs_from_draws,
    sample_causal,
    sample_pairs,
    smoothing_spline,
    support,
)
from causalkit.ncc.train import TrainConfig, train_ncc

TINY = TrainConfig(
    iterations=250,
    pool_pairs=600,
    pool_points=300,
    min_points=100,
    max_points=200,
    val_pairs=300,
    val_points=200,
    eval_every=125,
)
FAST = dataclasses.replace(TINY, iterations=30, eval_every=30)  # for plumbing, not learning


def _params(**overrides) -> PairParams:
    base = {
        "weights": np.array([1.0, 2.0]),
        "means": np.array([-1.0, 2.0]),
        "sds": np.array([0.5, 1.0]),
        "mechanism_knots": np.array([0.0, 1.0, -1.0, 2.0]),
        "noise_level": 0.5,
        "hetero_knots": np.array([1.0, 2.0, 1.0, 3.0]),
        "n_points": 500,
    }
    return PairParams(**{**base, **overrides})


# ---------------------------------------------------------------- §3.1 generator


def test_pairs_are_standardised_and_labels_balanced():
    pairs, labels = sample_pairs(200, 300, seed=0)
    assert pairs.shape == (400, 300, 2) and pairs.dtype == torch.float32
    torch.testing.assert_close(pairs.mean(1), torch.zeros(400, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(pairs.std(1, unbiased=False), torch.ones(400, 2), atol=1e-4, rtol=0)
    assert (labels == 0).sum() == 200 and (labels == 1).sum() == 200
    # Eq. 4: the second half is the first half transposed.
    assert torch.equal(pairs[200:], pairs[:200].flip(-1))


def test_generator_is_seeded():
    a, _ = sample_pairs(20, 50, seed=3)
    b, _ = sample_pairs(20, 50, seed=3)
    c, _ = sample_pairs(20, 50, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augmented_copies_are_labelled_half_and_uncorrelated():
    pairs, labels = sample_pairs(300, 400, seed=1, augment=True)
    assert pairs.shape == (900, 400, 2)
    assert (labels[600:] == 0.5).all() and (labels[:600] != 0.5).all()
    original, shuffled = pairs[:300], pairs[600:]
    # Same y, and x is a permutation of the original x...
    assert torch.equal(shuffled[..., 1], original[..., 1])
    assert torch.equal(shuffled[..., 0].sort(1).values, original[..., 0].sort(1).values)

    # ...so the dependence is gone: |corr| collapses to the sampling noise ~ 1/sqrt(m).
    def abs_corr(s):
        return (s[..., 0] * s[..., 1]).mean(1).abs()

    assert abs_corr(shuffled).mean() < 0.06 < 0.2 < abs_corr(original).mean()


def test_hermite_spline_interpolates_its_knots_with_either_slope_rule():
    rng = np.random.default_rng(0)
    values = rng.standard_normal((6, 5))
    lo, hi = np.full(6, -2.0), np.full(6, 2.0)
    knots = np.tile(np.linspace(-2, 2, 5), (6, 1))
    x = np.tile(np.linspace(-2, 2, 4001), (6, 1))
    idx = np.clip(np.floor((x + 2) / 1.0).astype(int), 0, 3)
    left, right = np.take_along_axis(values, idx, 1), np.take_along_axis(values, idx + 1, 1)
    inside = {}
    for rule in ("finite-difference", "pchip"):
        np.testing.assert_allclose(hermite_spline(knots, lo, hi, values, rule), values, atol=1e-12)
        f = hermite_spline(x, lo, hi, values, rule)
        inside[rule] = (f >= np.minimum(left, right) - 1e-12) & (
            f <= np.maximum(left, right) + 1e-12
        )
    assert inside["pchip"].all()  # PCHIP is monotone between knots
    assert not inside["finite-difference"].all()  # the textbook spline overshoots somewhere
    with pytest.raises(ValueError, match="slopes must be one of"):
        hermite_spline(knots, lo, hi, values, "akima")


def test_finite_difference_slopes_are_mean_secants():
    values = np.array([[0.0, 1.0, 4.0, 9.0]])  # k² at k = 0..3
    np.testing.assert_allclose(finite_difference_slopes(values), [[1.0, 2.0, 4.0, 5.0]])
    # Between knots the spline's derivative at a knot equals that slope (C¹ continuity).
    lo, hi, h = np.zeros(1), np.full(1, 3.0), 1e-6
    at = np.array([[1.0 - h, 1.0 + h]])
    f = hermite_spline(at, lo, hi, values)
    assert (f[0, 1] - f[0, 0]) / (2 * h) == pytest.approx(2.0, rel=1e-5)
    with pytest.raises(ValueError, match="slopes must be one of"):
        GeneratorConfig(slopes="linear")


def test_smoothing_spline_interpolates_four_knots_and_smooths_five():
    lo, hi = np.zeros(1), np.ones(1)
    four = np.array([[1.0, 3.0, 0.5, 2.0]])
    np.testing.assert_allclose(
        smoothing_spline(np.linspace(0, 1, 4)[None], lo, hi, four), four, atol=1e-10
    )
    five = np.array([[0.0, 5.0, 0.0, 5.0, 0.0]])
    fitted = smoothing_spline(np.linspace(0, 1, 5)[None], lo, hi, five)
    assert not np.allclose(fitted, five)  # a cubic cannot pass through a zigzag of 5


def test_support_is_eq3():
    x = np.array([[0.0, 1.0, 2.0, 3.0]])
    lo, hi = support(x)
    sd = x.std()
    assert lo[0] == pytest.approx(-sd) and hi[0] == pytest.approx(3 + sd)


@pytest.mark.parametrize("generator", [GeneratorConfig(), TUNED_GENERATOR], ids=["paper", "tuned"])
def test_draw_params_follow_section_3_1(generator):
    draws = draw_params(400, np.random.default_rng(0), generator)
    k = draws.components
    assert set(k) == {1, 2, 3, 4, 5}  # k ~ RandomInteger[1, 5]
    active = np.arange(MAX_COMPONENTS)[None, :] < k[:, None]
    assert (draws.weights[~active] == 0).all() and (draws.weights[active] > 0).all()
    assert {len(knots) for knots in draws.mechanism_knots} == {4, 5}  # d ~ RandomInteger(4, 5)
    assert [len(h) for h in draws.hetero_knots] == [len(m) for m in draws.mechanism_knots]
    hetero = np.concatenate(draws.hetero_knots)
    assert hetero.min() >= 0 and hetero.max() <= generator.hetero_max
    assert draws.noise_level.min() >= 0 and draws.noise_level.max() <= generator.noise_max
    assert draws.noise_level.max() > 0.9 * generator.noise_max  # the whole range is used
    r, s = draws.mixture_scales
    assert r.min() >= 0 and s.max() <= generator.mixture_scale
    np.testing.assert_array_equal(draws.means, r[:, None] * draws.unit_means)
    assert (draws.sds >= 0).all()
    with pytest.raises(ValueError, match="n >= 1"):
        draw_params(0, np.random.default_rng(0), generator)


def test_training_pairs_come_from_draw_params():
    # sample_causal (what sample_pairs, hence training, uses) is draw_params then the build.
    generator = TUNED_GENERATOR
    x, y = sample_causal(50, 200, np.random.default_rng(7), generator)
    rng = np.random.default_rng(7)
    x2, y2 = pairs_from_draws(draw_params(50, rng, generator), 200, rng, generator)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_noiseless_pair_is_the_standardised_mechanism():
    x, y = pair_from_params(_params(noise_level=0.0))
    assert x.shape == y.shape == (500,)
    lo, hi = support(x[None])
    f = hermite_spline(x[None], lo, hi, np.array([[0.0, 1.0, -1.0, 2.0]]))[0]
    np.testing.assert_allclose(y, (f - f.mean()) / f.std(), atol=1e-10)


def test_noise_convention_changes_noise_strength():
    params = _params(noise_level=4.0)
    _, y_sd = pair_from_params(params, config=GeneratorConfig(noise="sd"))
    _, y_var = pair_from_params(params, config=GeneratorConfig(noise="variance"))
    _, y_clean = pair_from_params(_params(noise_level=0.0))
    # With sd 4 the signal is buried deeper than with sd 2 (variance 4).
    assert np.corrcoef(y_sd, y_clean)[0, 1] < np.corrcoef(y_var, y_clean)[0, 1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"weights": np.array([1.0])}, "equal length"),
        ({"weights": np.array([-1.0, 1.0])}, "non-negative"),
        ({"sds": np.array([-1.0, 1.0])}, "standard deviations"),
        ({"mechanism_knots": np.array([1.0])}, "at least 2"),
        ({"noise_level": -0.1}, "noise_level"),
        ({"n_points": 5}, "at least 10"),
        ({"sds": np.zeros(2), "means": np.ones(2)}, "cause is constant"),
    ],
)
def test_bad_pair_params_are_refused(overrides, message):
    with pytest.raises(ValueError, match=message):
        pair_from_params(_params(**overrides))


def test_bad_generator_settings_are_refused():
    with pytest.raises(ValueError, match="noise must be one of"):
        GeneratorConfig(noise="std")
    with pytest.raises(ValueError, match="n >= 1"):
        sample_causal(0, 100, np.random.default_rng(0))


def test_two_thousand_long_pairs_stay_finite():
    x, y = sample_causal(2000, 1000, np.random.default_rng(0))
    assert x.shape == y.shape == (2000, 1000) and np.isfinite(y).all()


# ---------------------------------------------------------------- §3.2 NCC and Eq. 5


def test_eq5_is_exactly_antisymmetric():
    torch.manual_seed(0)
    model = NCC()
    pairs = torch.randn(64, 120, 2) ** 3
    p_xy = model.probability_causal(pairs)
    p_yx = model.probability_causal(pairs.flip(-1))
    assert p_xy.shape == (64,)
    assert ((p_xy >= 0) & (p_xy <= 1)).all()
    assert torch.equal(p_xy + p_yx, torch.ones(64))
    assert model.training  # probability_causal restores the mode it found


def test_symmetric_composite_is_eq5():
    a, b = torch.tensor([0.1, 0.9, 0.3]), torch.tensor([0.8, 0.2, 0.3])
    torch.testing.assert_close(symmetric_composite(a, b), 0.5 * (1 - a + b))


def test_probability_causal_ignores_scale_and_shift():
    torch.manual_seed(0)
    model = NCC().eval()
    pairs = torch.randn(4, 80, 2)
    scaled = pairs * torch.tensor([3.0, 0.01]) + torch.tensor([5.0, -2.0])
    torch.testing.assert_close(model.probability_causal(pairs), model.probability_causal(scaled))


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (torch.randn(4, 50), r"shape \(B, m, 2\)"),
        (torch.randn(4, 50, 3), r"shape \(B, m, 2\)"),
        (torch.ones(4, 50, 2, dtype=torch.long), "float tensor"),
        (torch.full((2, 50, 2), float("nan")), "NaN"),
        (torch.cat([torch.randn(1, 50, 1), torch.ones(1, 50, 1)], -1), "constant column"),
        (np.zeros((2, 50, 2)), "torch.Tensor"),
    ],
)
def test_probability_causal_rejects_bad_input(pairs, message):
    with pytest.raises(ValueError, match=message):
        NCC().probability_causal(pairs)


def test_bad_train_config_is_refused():
    with pytest.raises(ValueError, match="min_points"):
        TrainConfig(min_points=600, max_points=500)


def test_tiny_training_learns_beyond_chance():
    result = train_ncc(TINY, seed=0)
    curve = result["curve"]
    assert curve["val_accuracy"].shape == (2,)
    assert curve["val_accuracy"][-1] > 0.65  # chance is 0.5 on the balanced Eq. 4 set
    assert torch.isfinite(curve["loss"]).all()


def test_training_is_deterministic():
    a, b = train_ncc(FAST, seed=5), train_ncc(FAST, seed=5)
    for key in a["state"]:
        assert torch.equal(a["state"][key], b["state"][key]), key


def test_training_stops_on_nan(monkeypatch):
    from causalkit.ncc import train as ncc_train

    def nan_batch(pool, config, augment, generator):
        return torch.full((config.batch_pairs, 50, 2), float("nan")), torch.zeros(
            config.batch_pairs
        )

    monkeypatch.setattr(ncc_train, "_minibatch", nan_batch)
    with pytest.raises(FloatingPointError, match="loss became nan at iteration 1"):
        train_ncc(FAST, seed=0)


def test_augmented_training_runs_and_is_symmetric():
    state = train_ncc(FAST, seed=0, augment=True)["state"]
    model = NCC()
    model.load_state_dict(state)
    pairs = torch.randn(8, 60, 2)
    total = model.probability_causal(pairs) + model.probability_causal(pairs.flip(-1))
    assert torch.equal(total, torch.ones(8))


# ---------------------------------------------------------------- baselines


def _cube_pair(n: int = 400):
    x = np.random.default_rng(0).uniform(0, 1, n)
    return x, x**3


@pytest.mark.parametrize("method", [baselines.igci_slope, baselines.igci_entropy])
def test_igci_finds_a_deterministic_cube(method):
    x, y = _cube_pair()
    assert method(x, y) > 0 > method(y, x)


def test_reci_and_anm_find_an_additive_noise_pair():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, 300)
    y = x**3 + rng.uniform(-1, 1, 300)
    assert baselines.reci(x, y) > 0 > baselines.reci(y, x)
    assert baselines.anm_hsic(x, y) > 0 > baselines.anm_hsic(y, x)


def test_hsic_detects_dependence():
    rng = np.random.default_rng(2)
    u = rng.standard_normal(200)
    assert baselines.hsic_log_pvalue(u, u**2) < np.log(1e-3)
    assert baselines.hsic_log_pvalue(u, rng.standard_normal(200)) > np.log(1e-3)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (np.arange(20.0), np.arange(21.0), "equal length"),
        (np.arange(5.0), np.arange(5.0), "at least 10"),
        (np.ones(20), np.arange(20.0), "constant"),
        (np.r_[np.nan, np.arange(19.0)], np.arange(20.0), "finite"),
    ],
)
def test_baselines_reject_bad_pairs(a, b, message):
    with pytest.raises(ValueError, match=message):
        baselines.igci_slope(a, b)


# ---------------------------------------------------------------- §3.3 experiment


def test_presets_and_bad_names():
    quick, paper = config("quick"), config("paper")
    assert quick.seeds == 1 and paper.seeds == 3  # the paper preset averages three NCCs
    assert quick.anm_max_points < paper.anm_max_points
    assert quick.scenes.n_train < paper.scenes.n_train  # and runs a larger scene study
    assert config("paper", augment=True).augment
    assert config("paper", augment=True).train == paper.train  # §4.2 changes only the data
    with pytest.raises(ValueError, match="choose one of quick, paper"):
        config("huge")
    with pytest.raises(ValueError, match="augment must be True or False"):
        config("quick", augment="yes")


def test_ensemble_members_are_disjoint_across_seeds():
    paper = config("paper")
    runs = [member_seeds(paper, s) for s in range(4)]
    assert runs[0] == [0, 1, 2] and runs[1] == [3, 4, 5]
    assert len({m for run in runs for m in run}) == 12  # no model is shared by two seeds
    assert member_seeds(config("quick"), 7) == [7]  # one model: the seed itself
    with pytest.raises(ValueError, match="seed must be >= 0"):
        member_seeds(paper, -1)
    assert member_seeds(paper, 1431655764)[-1] == 2**32 - 2  # the largest seed that fits
    with pytest.raises(ValueError, match=r"seed 1431655765 is too large .* 0 \.\.\. 1431655764"):
        member_seeds(paper, 1431655765)


def test_cached_model_and_tubingen_evaluation(tmp_cache):
    tiny = NccConfig(train=FAST, test_points=200, test_subsamples=2, anm_max_points=60)
    run = result(tiny, seed=0)
    assert list(tmp_cache.glob("ncc-model-*.pt"))
    again = result(tiny, seed=0)  # from the cache: same weights
    assert run.member_seeds == (0,) and len(run.curves) == 1
    assert run.curves[0]["val_accuracy"].shape == (1,) and run.train_seconds > 0
    assert torch.equal(run.curves[0]["loss"], again.curves[0]["loss"])
    assert run.generator == FAST.generator
    pairs = tuebingen_pairs()[:12]
    batch = torch.randn(3, 50, 2)
    assert torch.equal(run.model.probability_causal(batch), again.model.probability_causal(batch))
    tubingen = run.tubingen(pairs)
    assert list(tubingen.table.columns) == ["SampleID", "n_points", "p_a_causes_b", "correct"]
    assert len(tubingen.table) == 12
    assert tubingen.table["n_points"].tolist() == [len(p.a) for p in pairs]
    assert tubingen.accuracy == pytest.approx(tubingen.table["correct"].mean())
    np.testing.assert_array_equal(tubingen.table["p_a_causes_b"], run.score_pairs(pairs))
    assert set(tubingen.baselines["method"]) == set(baselines.BASELINES)
    assert (tubingen.baselines["seconds_per_pair"] > 0).all()
    assert tubingen.summary()["method"].iloc[0] == "NCC"
    assert run.tubingen(pairs, baselines=False).baselines.empty


def test_the_validation_pairs_are_a_child_stream_of_the_seed(monkeypatch):
    # Not seed + 1 (the next run's pool) nor the pool's own seed: a named child of it.
    from causalkit.core import child_seed
    from causalkit.ncc import train as ncc_train

    seeds = []
    real = ncc_train.sample_pairs
    monkeypatch.setattr(
        ncc_train, "sample_pairs", lambda n, m, seed, *a: seeds.append(seed) or real(n, m, seed, *a)
    )
    train_ncc(FAST, seed=3)
    assert seeds == [3, child_seed(3, "validation-pairs")]
