"""CFL: the GRATING world, man(), Alg. 1, the manipulation search of Alg. 2, Eqs. 2-3."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causalkit.cfl.grating import (
    GratingWorld,
    behaviour_after_manipulation,
    causal_class,
    causal_prob,
    full_columns,
    grating_partitions,
    has_hbar,
    has_vbar,
    observational_prob,
    sample_grating,
)
from causalkit.cfl.model import (
    CausalNet,
    greedy_binary_manipulation,
    manipulation_distance,
    manipulation_error,
    relaxed_manipulation,
)
from causalkit.cfl.train import (
    ManipulatorConfig,
    TrainConfig,
    causal_labels_from_observations,
    learn_manipulator,
    train_causal_net,
)

WORLD = GratingWorld()


@pytest.fixture(scope="module")
def sample():
    return sample_grating(WORLD, 4000, np.random.default_rng(0))


def test_bars_follow_the_hidden_coins(sample):
    assert torch.equal(has_vbar(sample.images), sample.h1)
    assert torch.equal(has_hbar(sample.images), sample.h2)
    noise = sample.images.sum((1, 2)) - 10 * (sample.h1 + sample.h2) + sample.h1 * sample.h2
    assert 0.02 < noise.mean().item() / 100 < 0.04  # about 3 % noise pixels


def test_observational_probabilities_match_sampled_behaviour(sample):
    exact = observational_prob(WORLD, sample.images)
    assert len(torch.unique(exact)) == 4  # four observational classes
    for value in torch.unique(exact):
        observed = sample.behaviour[exact == value].float().mean().item()
        assert observed == pytest.approx(value.item(), abs=0.04)


def test_v_bar_is_a_spurious_correlate_and_h_bar_the_cause(sample):
    """Both bars predict T observationally; only the h-bar moves P(T | man(I))."""
    t = sample.behaviour.float()
    v, h = has_vbar(sample.images).bool(), has_hbar(sample.images).bool()
    assert t[v].mean() - t[~v].mean() > 0.25 and t[h].mean() - t[~h].mean() > 0.25
    manipulated_probs = causal_prob(WORLD, sample.images)
    assert (
        torch.unique(manipulated_probs[v & ~h]).tolist()
        == torch.unique(manipulated_probs[~v & ~h]).tolist()
    )
    assert (manipulated_probs[h] > manipulated_probs[~h].max()).all()


def test_manipulation_leaves_hidden_variables_untouched(sample):
    """man(I = i) changes pixels only: adding a v-bar to every image leaves T's law alone,
    adding an h-bar changes it, and the simulated P(T | man(I)) is the oracle's."""
    rng = np.random.default_rng(1)
    with_vbar = sample.images.clone()
    with_vbar[:, :, 0] = 1
    with_hbar = sample.images.clone()
    with_hbar[:, 0, :] = 1
    before = behaviour_after_manipulation(WORLD, sample.images, sample.h1, rng).float().mean()
    after_v = behaviour_after_manipulation(WORLD, with_vbar, sample.h1, rng).float().mean()
    after_h = behaviour_after_manipulation(WORLD, with_hbar, sample.h1, rng).float().mean()
    assert abs(after_v - before) < 0.03 and after_h - before > 0.15
    assert after_h == pytest.approx(causal_prob(WORLD, with_hbar).mean().item(), abs=0.03)


def test_cct_holds_on_grating():
    result = grating_partitions(WORLD)
    assert result["relation"] == "causal coarsens observational"
    assert len(result["observational_partition"]) == 4 and len(result["causal_partition"]) == 2


def test_theorem_7_on_grating(sample):
    """P(T | I) = P(T | C, S) with C the h-bar and S the v-bar (estimated from samples)."""
    c, s = has_hbar(sample.images), has_vbar(sample.images)
    exact = observational_prob(WORLD, sample.images)
    for cv in (0, 1):
        for sv in (0, 1):
            cell = (c == cv) & (s == sv)
            estimate = sample.behaviour[cell].float().mean().item()
            assert estimate == pytest.approx(exact[cell][0].item(), abs=0.04)


def test_alg1_queries_one_representative_per_observational_class(sample):
    flat = sample.images.reshape(len(sample.images), -1)
    calls = []

    def oracle(images):
        calls.append(len(images))
        return causal_class(WORLD, images.reshape(-1, 10, 10))

    probs = observational_prob(WORLD, sample.images)
    labels, representatives = causal_labels_from_observations(flat, probs, oracle)
    assert calls == [4] and len(torch.unique(probs[representatives])) == 4
    assert torch.equal(labels, causal_class(WORLD, sample.images))


def test_eq2_and_eq3_by_hand():
    answers, targets = torch.tensor([1, 0, 1, 1]), torch.tensor([1, 1, 1, 0])
    assert manipulation_error(answers, targets) == 0.5
    originals = torch.zeros(2, 4)
    manipulated = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert manipulation_distance(originals, manipulated) == 1.0  # (2 flips + 0) / 2


def _linear_net(weights: list[float], bias: float) -> CausalNet:
    """C(x) = sigmoid(w·x + b), built as a CausalNet whose hidden layer is the identity."""
    d = len(weights)
    net = CausalNet(d, hidden=d)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.eye(d))
        net.layers[0].bias.zero_()
        net.layers[2].weight.copy_(torch.tensor([weights]))
        net.layers[2].bias.fill_(bias)
    return net


def test_greedy_search_flips_exactly_the_causal_pixels():
    net = _linear_net([8.0, 8.0, 0.0, 0.0], -12.0)  # class 1 needs pixels 0 and 1 both on
    start = torch.tensor([[0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]])
    result = greedy_binary_manipulation(net, start, torch.tensor([1, 0]), alpha=0.5)
    assert result.tolist() == [[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    unchanged = greedy_binary_manipulation(net, start, torch.tensor([1, 0]), alpha=1.0)
    assert torch.equal(unchanged, start)  # α = 1: distance is all that counts


def test_relaxed_search_moves_towards_the_target_only_as_needed():
    net = _linear_net([6.0, 0.0, 0.0], -3.0)
    start = torch.full((1, 3), 0.2)
    result = relaxed_manipulation(net, start, torch.tensor([1]), alpha=0.3)
    assert result[0, 0] > 0.6 and (result[0, 1:] - 0.2).abs().max() < 0.05


def test_manipulation_bad_inputs():
    net = _linear_net([1.0, 1.0], 0.0)
    with pytest.raises(ValueError, match="alpha"):
        greedy_binary_manipulation(net, torch.zeros(1, 2), torch.tensor([1]), alpha=1.5)
    with pytest.raises(ValueError, match=r"\(Q, D\)"):
        greedy_binary_manipulation(net, torch.zeros(2), torch.tensor([1]), alpha=0.5)
    with pytest.raises(ValueError, match="0 or 1"):
        train_causal_net(torch.zeros(3, 2), torch.tensor([0, 2, 1]), TrainConfig(steps=1), 0)
    with pytest.raises(ValueError, match="binary"):
        has_hbar(torch.full((1, 10, 10), 0.5))
    with pytest.raises(ValueError, match=r"\(N, side, side\)"):
        has_vbar(torch.zeros(10, 10))
    with pytest.raises(ValueError, match="noise"):
        GratingWorld(noise=0.7)
    with pytest.raises(ValueError, match="behaviour"):
        GratingWorld(behaviour=((0.1, 1.2), (0.5, 0.5)))


def test_a_short_alg2_run_records_eq2_eq3_and_grows_the_causal_data(sample):
    flat = sample.images[:300].reshape(300, -1)
    labels = causal_class(WORLD, sample.images[:300])
    oracle = lambda x: causal_class(WORLD, x.reshape(-1, 10, 10))  # noqa: E731
    config = ManipulatorConfig(iterations=2, queries=20, train=TrainConfig(steps=200))
    run = learn_manipulator(flat, labels, oracle, config, seed=0)
    assert len(run.merr) == 2 and all(0 <= e <= 1 for e in run.merr)
    assert len(run.images) == 340 and len(run.labels) == 340
    first = run.iterations[0]
    assert manipulation_error(first.answers, first.targets) == first.merr
    # every target is the other causal class of its starting image
    assert torch.equal(first.targets, 1 - causal_class(WORLD, first.originals.reshape(-1, 10, 10)))
    assert full_columns(first.manipulated.reshape(-1, 10, 10)).shape == (20, 10)


def test_alg2_is_deterministic_for_a_seed(sample):
    flat = sample.images[:200].reshape(200, -1)
    labels = causal_class(WORLD, sample.images[:200])
    oracle = lambda x: causal_class(WORLD, x.reshape(-1, 10, 10))  # noqa: E731
    config = ManipulatorConfig(iterations=2, queries=20, train=TrainConfig(steps=100))
    runs = [learn_manipulator(flat, labels, oracle, config, seed=s) for s in (3, 3, 4)]
    assert runs[0].merr == runs[1].merr and runs[0].mdist == runs[1].mdist
    assert torch.equal(runs[0].images, runs[1].images)
    assert not torch.equal(runs[0].images, runs[2].images)


def test_result_trains_each_part_on_first_use_from_child_seeds(tmp_cache):
    from causalkit import cfl
    from causalkit.cfl.experiment import GratingConfig
    from causalkit.core import child_seed

    small = GratingConfig(
        observations=200,
        manipulator=ManipulatorConfig(
            iterations=2, queries=20, alpha=0.15, train=TrainConfig(steps=50)
        ),
    )
    config = cfl.config("quick", grating=small, grating_seeds=2)
    result = cfl.result(config, 5)
    assert not list(tmp_cache.glob("*.pt"))  # nothing trained yet
    runs = result.grating
    assert [r.seed for r in runs] == [child_seed(5, "grating", k) for k in (0, 1)]
    assert len(runs[0].merr) == len(runs[0].vbar_preserved) == 2
    assert not torch.equal(runs[0].observed_images, runs[1].observed_images)
    entries = sorted(p.name.split("-")[1] for p in tmp_cache.glob("*.pt"))
    assert entries == ["grating", "grating"]  # the MNIST part waits for its first use
    again = cfl.result(config, 5).grating  # read back from the cache
    assert torch.equal(again[1].merr, runs[1].merr) and again[1].net.training is False


def test_configs_refuse_bad_values():
    from causalkit import cfl

    with pytest.raises(ValueError, match="grating_seeds"):
        cfl.config(grating_seeds=0)
    with pytest.raises(ValueError, match="alpha"):
        ManipulatorConfig(alpha=1.5)
    with pytest.raises(ValueError, match="queries"):
        ManipulatorConfig(queries=0)
    with pytest.raises(ValueError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(weight_decay=-1.0)
