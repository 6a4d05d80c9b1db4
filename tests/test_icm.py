"""ICM (Parascandolo et al. 2018): mechanisms of App. C, experts, discriminator, Alg. 1."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from causalkit import icm
from causalkit.core.classifier import small_cnn
from causalkit.icm.mechanisms import (
    MECHANISMS,
    NOISE_VARIANCE,
    TRANSLATIONS,
    apply_mechanism,
    apply_mechanisms,
    draw_transformed,
    icm_data,
    pad_to_32,
    translate,
)
from causalkit.icm.model import Committee, Discriminator, ExpertAdam
from causalkit.icm.train import (
    CompetitionConfig,
    competition_step,
    identity_experts,
    join_experts,
    mechanisms_specialised,
    specialisation_matrix,
    train_committee,
)


@pytest.fixture(scope="module")
def data():
    return icm_data(seed=0)


def _centre_of_mass(images: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(32.0).view(32, 1)
    cols = torch.arange(32.0).view(1, 32)
    mass = images.sum(dim=(-2, -1))
    return torch.stack(
        [(images * rows).sum(dim=(-2, -1)) / mass, (images * cols).sum(dim=(-2, -1)) / mass], -1
    )


def test_data_is_padded_scaled_and_disjoint(data):
    assert data.canonical.shape[1:] == (1, 32, 32)
    assert data.canonical.min() >= 0 and data.canonical.max() <= 1
    # §4: zero padding first, so the 2-pixel border is empty.
    assert data.test[..., :2, :].abs().sum() == 0 and data.test[..., :, -2:].abs().sum() == 0
    sizes = len(data.canonical), len(data.hidden), len(data.test)
    assert sizes == (2000, 2000, 1000)
    # No hidden (to-be-transformed) digit has its original among the canonical ones.
    canonical = {tuple(x.flatten().tolist()) for x in data.canonical[:, :, 2:30, 2:30]}
    assert not any(tuple(x.flatten().tolist()) in canonical for x in data.hidden[:, :, 2:30, 2:30])


@pytest.mark.parametrize("name", list(TRANSLATIONS))
def test_translation_moves_the_ink_by_four_pixels(data, name):
    digits = data.test[:50]
    moved = apply_mechanism(digits, name)
    rows, cols = TRANSLATIONS[name]
    # Pixel (r, c) lands on (r + rows, c + cols): compare on the part that stays in view.
    src = digits[..., max(0, -rows) : 32 - max(0, rows), max(0, -cols) : 32 - max(0, cols)]
    dst = moved[..., max(0, rows) : 32 - max(0, -rows), max(0, cols) : 32 - max(0, -cols)]
    assert torch.equal(src, dst)
    # Most digits lose no ink at all, so their centre of mass moves by exactly (rows, cols).
    shift = _centre_of_mass(moved[:, 0]) - _centre_of_mass(digits[:, 0])
    exact = (shift - torch.tensor([float(rows), float(cols)])).abs().amax(dim=1) < 1e-3
    assert exact.float().mean() > 0.8


def test_translation_fills_with_zeros_rather_than_wrapping():
    image = torch.zeros(1, 1, 32, 32)
    image[..., 0, 0] = 1.0
    assert translate(image, -4, 0).sum() == 0  # pushed off the top: gone, not back at the bottom
    assert translate(image, 4, 4)[..., 4, 4] == 1


def test_inversion_is_an_involution(data):
    digits = data.test[:20]
    once = apply_mechanism(digits, "invert")
    assert torch.allclose(once, 1 - digits)
    assert torch.allclose(apply_mechanism(once, "invert"), digits, atol=1e-6)


def test_noise_has_the_variance_of_app_c():
    grey = torch.full((200, 1, 32, 32), 0.5)
    noisy = apply_mechanism(grey, "noise", torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1  # clamped
    # Grey 0.5 ± 0.5 Z clamped to [0, 1] has variance σ² E[min(Z², 1)], Z ~ N(0, 1).
    inside = math.erf(1 / math.sqrt(2))  # P(|Z| < 1)
    clipped_second_moment = inside - 2 * math.exp(-0.5) / math.sqrt(2 * math.pi) + (1 - inside)
    assert abs(noisy.var().item() - NOISE_VARIANCE * clipped_second_moment) < 0.003


def test_apply_mechanisms_routes_each_example_to_its_own_mechanism(data):
    digits = data.test[: len(MECHANISMS)]
    ids = torch.arange(len(MECHANISMS))
    out = apply_mechanisms(digits, ids, torch.Generator().manual_seed(1))
    for i, name in enumerate(MECHANISMS[:-1]):  # all but noise are deterministic
        assert torch.equal(out[i], apply_mechanism(digits[i : i + 1], name)[0])


def test_draw_transformed_hides_nothing_but_the_mechanism(data):
    x, ids = draw_transformed(data.hidden, 64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 1, 32, 32) and ids.shape == (64,)
    assert x.min() >= 0 and x.max() <= 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: apply_mechanism(torch.zeros(2, 28, 28), "up"), "shape"),
        (lambda: apply_mechanism(torch.full((2, 1, 32, 32), 2.0), "up"), r"\[0, 1\]"),
        (lambda: apply_mechanism(torch.zeros(2, 1, 32, 32), "rotate"), "unknown mechanism"),
        (lambda: apply_mechanisms(torch.zeros(2, 1, 32, 32), torch.tensor([0, 10])), "0..9"),
        (lambda: apply_mechanisms(torch.zeros(2, 1, 32, 32), torch.tensor([0.0, 1.0])), "integer"),
        (lambda: pad_to_32(torch.zeros(2, 32, 32)), "28, 28"),
        (lambda: Committee(n_experts=0), "n_experts"),
        (lambda: Committee(mode="fast"), "mode"),
        (lambda: Committee()(torch.zeros(2, 1, 28, 28)), "32"),
        (lambda: Discriminator()(torch.zeros(2, 3, 32, 32)), "32"),
        (lambda: CompetitionConfig(batch_size=0), "batch_size"),
        (lambda: mechanisms_specialised(torch.eye(10), threshold=0.3), "threshold"),
    ],
)
def test_bad_inputs_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_expert_and_discriminator_shapes_follow_app_b():
    committee = Committee(n_experts=3, width=32, depth=5)
    x = torch.rand(4, 1, 32, 32)
    out = committee(x)
    assert out.shape == (4, 3, 1, 32, 32)
    assert out.min() >= 0 and out.max() <= 1
    # Five 3x3 conv layers of 32 filters: 1->32, 3x 32->32, 32->1, plus batch norm.
    per_expert = (9 * 32 + 32) + 3 * (9 * 32 * 32 + 32) + (9 * 32 + 1) + 4 * 2 * 32
    assert sum(p.numel() for p in committee.parameters()) == 3 * per_expert
    disc = Discriminator()
    assert disc(x).shape == (4,)
    convs = [m for m in disc.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 16, 32, 32, 64, 64]
    assert [m.out_features for m in disc.head if isinstance(m, torch.nn.Linear)] == [1024, 1]


def test_grouped_and_loop_modes_compute_the_same_committee():
    torch.manual_seed(0)
    committee = Committee(n_experts=4, width=8, depth=5, mode="loop")
    x = torch.rand(6, 1, 32, 32)
    loop = committee(x)
    loop_stats = committee.running_mean0.clone()
    committee.running_mean0.zero_()
    committee.mode = "grouped"
    grouped = committee(x)
    assert torch.allclose(loop, grouped, atol=1e-5)
    # The running statistics land in the stacked buffers either way.
    assert torch.allclose(committee.running_mean0, loop_stats, atol=1e-6)
    assert committee.running_mean0.abs().sum() > 0


def test_one_expert_sees_the_batch_alone():
    committee = Committee(n_experts=3, width=8)
    x = torch.rand(5, 1, 32, 32)
    assert torch.allclose(committee(x)[:, 1], committee.expert(1, x), atol=1e-6)


def test_expert_adam_moves_only_the_active_experts():
    torch.manual_seed(0)
    committee = Committee(n_experts=4, width=8)
    optimiser = ExpertAdam(committee.expert_parameters())
    for active in ([True, True, True, True], [False, True, False, False]):
        before = [p.detach().clone() for p in committee.expert_parameters()]
        committee(torch.rand(3, 1, 32, 32)).sum().backward()
        optimiser.step(torch.tensor(active))
        optimiser.zero_grad()
        for p, old in zip(committee.expert_parameters(), before, strict=True):
            for e, on in enumerate(active):
                assert torch.equal(p[e], old[e]) != on
    # Each expert keeps its own step count (Adam's bias correction is per expert).
    assert optimiser.steps.tolist() == [1, 2, 1, 1]


def test_expert_adam_matches_torch_adam_for_one_expert():
    torch.manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(1, 5))
    reference = torch.nn.Parameter(ours.detach().clone())
    mine, theirs = ExpertAdam([ours], lr=0.01), torch.optim.Adam([reference], lr=0.01)
    for _ in range(3):
        for p in (ours, reference):
            p.grad = (p.detach() ** 3).clone()
        mine.step(torch.tensor([True]))
        theirs.step()
    assert torch.allclose(ours, reference, atol=1e-6)


def test_winner_take_all_updates_only_the_winners(data):
    torch.manual_seed(0)
    committee = Committee(n_experts=4, width=8)
    disc = Discriminator()
    experts, d_opt = ExpertAdam(committee.expert_parameters()), torch.optim.Adam(disc.parameters())
    x, _ = draw_transformed(
        data.hidden, 3, torch.Generator().manual_seed(0)
    )  # 3 examples, 4 experts
    before = [p.detach().clone() for p in committee.expert_parameters()]
    d_before = [p.detach().clone() for p in disc.parameters()]
    winners = competition_step(committee, disc, experts, d_opt, x, data.canonical[:3])["winners"]
    won = set(winners.tolist())
    assert len(won) < 4  # at least one loser to check
    for p, old in zip(committee.expert_parameters(), before, strict=True):
        for e in range(4):
            assert torch.equal(p[e], old[e]) == (e not in won)
    assert all(not torch.equal(p, old) for p, old in zip(disc.parameters(), d_before, strict=True))


def test_specialisation_counts_distinct_dominant_experts():
    # Scores whose argmax gives each mechanism's winner.
    def scores_for(winners_per_mechanism: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        rows, mech = [], []
        for m, winners in enumerate(winners_per_mechanism):
            for w in winners:
                rows.append(torch.nn.functional.one_hot(torch.tensor(w), 10).float())
                mech.append(m)
        return torch.stack(rows), torch.tensor(mech)

    perfect = [[m] * 10 for m in range(10)]
    assert mechanisms_specialised(specialisation_matrix(*scores_for(perfect))) == 10
    # Expert 0 takes mechanisms 0 and 1: neither counts. Mechanism 2 split 8/2: below 90 %.
    shared = [[0] * 10, [0] * 10, [2] * 8 + [3] * 2] + [[m] * 10 for m in range(3, 10)]
    matrix = specialisation_matrix(*scores_for(shared))
    assert torch.allclose(matrix[2, 2], torch.tensor(0.8))
    assert mechanisms_specialised(matrix) == 7
    assert torch.allclose(matrix.sum(1), torch.ones(10))


def test_small_cnn_classifier_shapes():
    net = small_cnn(in_channels=1, side=32)
    assert net(torch.rand(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="divisible"):
        small_cnn(side=30)


def test_same_seed_gives_the_same_committee(data):
    config = CompetitionConfig(
        n_experts=3, width=4, iterations=4, identity_iterations=3, eval_every=2, probe_digits=2
    )
    classifier = small_cnn().eval()
    first, second = (train_committee(config, data, classifier, seed=3) for _ in range(2))
    for key in ("identity_iterations", "iterations", "scores", "wins"):
        assert torch.equal(first[key], second[key]), key
    for name, tensor in first["committee"].items():
        assert torch.equal(tensor, second["committee"][name]), name
    other = train_committee(config, data, classifier, seed=4)
    assert not torch.equal(first["committee"]["weights.0"], other["committee"]["weights.0"])


def test_a1_committees_start_from_the_main_runs_identity_experts(data):
    config = CompetitionConfig(
        n_experts=3, width=4, iterations=2, identity_iterations=3, eval_every=2, probe_digits=2
    )
    classifier = small_cnn().eval()
    main = train_committee(config, data, classifier, seed=3)
    extra = identity_experts(config, data, 2, seed=8)
    start = join_experts((main, 3), (extra, 2))
    five = dataclasses.replace(config, n_experts=5)
    run = train_committee(five, data, classifier, seed=3, experts=start)
    # The five experts entered the competition exactly as the two inits left them ...
    for name, tensor in run["identity_state"].items():
        assert torch.equal(tensor[:3], main["identity_state"][name]), name
        assert torch.equal(tensor[3:], extra["identity_state"][name]), name
    assert torch.equal(run["identity_iterations"][3:], extra["identity_iterations"])
    # ... and a smaller committee is the main run's first experts.
    two = join_experts((main, 2))
    assert torch.equal(two["identity_state"]["weights.1"], main["identity_state"]["weights.1"][:2])
    with pytest.raises(ValueError, match="cannot take 4 experts"):
        join_experts((main, 4))


def test_a1_accuracy_subset_is_checked_and_used(data):
    from causalkit.icm.experiment import IcmConfig, final_measurements

    with pytest.raises(ValueError, match="size_test_digits"):
        IcmConfig(size_test_digits=0)
    committee, discriminator = Committee(2, width=4).eval(), Discriminator().eval()
    classifier = small_cnn().eval()
    some = final_measurements(committee, discriminator, data, classifier, 2, 0, test_digits=7)
    every = final_measurements(committee, discriminator, data, classifier, 2, 0)
    # Accuracies over 7 digits are multiples of 1/7; over the whole split they need not be.
    assert round(some["accuracy_clean"] * 7, 6) == round(some["accuracy_clean"] * 7)
    assert some["matrix"].shape == every["matrix"].shape == (10, 2)


def test_result_holds_the_trained_committee_and_its_a1_sizes(tmp_cache, monkeypatch):
    from causalkit.icm import experiment
    from causalkit.icm.mechanisms import IcmData

    def few_digits(seed: int) -> IcmData:  # the lifecycle on a tenth of the digits, for speed
        parts = [getattr(icm_data(seed), f.name) for f in dataclasses.fields(IcmData)]
        return IcmData(*(part[: len(part) // 10] for part in parts))

    monkeypatch.setattr(experiment, "icm_data", few_digits)
    tiny = icm.config(
        "quick",
        competition=CompetitionConfig(
            n_experts=2,
            width=4,
            iterations=2,
            batch_size=4,
            identity_iterations=2,
            eval_every=1,
            probe_digits=2,
        ),
        classifier_epochs=1,
        eval_digits=2,
        size_iterations=1,
        size_test_digits=5,
    )
    run = icm.result(tiny, seed=1)
    assert isinstance(run, icm.Result) and run.committee.n_experts == 2
    assert run.competition == tiny.competition and run.history["iterations"].tolist() == [0, 1, 2]
    assert run.final["matrix"].shape == (10, 2) and run.history["wins"].shape == (3, 10, 2)
    assert len(run.data.test) == 100 and not run.classifier.training
    again = icm.result(tiny, seed=1)  # read from the cache
    assert torch.equal(again.committee.weights[0], run.committee.weights[0])
    assert again.train_seconds == run.train_seconds
    # App. A.1: other sizes for the same config and seed, the first experts from this run.
    three, one = run.with_experts(3), run.with_experts(1)
    assert three.committee.n_experts == 3 and three.competition.iterations == 1
    assert three.final["matrix"].shape == (10, 3) and one.committee.n_experts == 1
    assert torch.equal(three.identity_iterations[:2], run.identity_iterations)
    assert torch.equal(one.identity_iterations, run.identity_iterations[:1])
    assert torch.equal(run.with_experts(2).committee.weights[1], run.committee.weights[1])
    with pytest.raises(ValueError, match="n_experts"):
        run.with_experts(0)
    transfer = run.glyph_transfer()
    assert transfer["inverted"].shape == transfer["clean"].shape
    assert transfer["chain_mechanisms"].shape == (len(transfer["clean"]), 2)
    # The two mechanisms of a chain always differ.
    assert (transfer["chain_mechanisms"][:, 0] != transfer["chain_mechanisms"][:, 1]).all()
