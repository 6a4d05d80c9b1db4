"""CFL on MNIST (§4.2, Supp. E): simulated annotators, the one-vs-all oracle, Fig. 6's chain."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from causalkit import cfl
from causalkit.cfl.experiment import MnistCflConfig, run_mnist_cfl
from causalkit.cfl.mnist import (
    UNSURE,
    AnnotatorConfig,
    Annotators,
    digit_training_set,
    majority_vote,
    manipulator_chain,
    one_vs_all_oracle,
    split_digits,
    train_annotators,
)
from causalkit.cfl.model import CausalNet, relaxed_manipulation
from causalkit.cfl.train import Iteration, ManipulatorConfig, ManipulatorRun, TrainConfig
from causalkit.data import mnist

SEED = 0


@pytest.fixture(scope="module")
def digits():
    return mnist(SEED)


@pytest.fixture(scope="module")
def split(digits):
    return split_digits(digits.labels, 0.5, SEED)


@pytest.fixture(scope="module")
def annotators(digits, split):
    """A small ensemble (3 CNNs, 4 epochs: ~4 s on 2 cores) shared by the module."""
    annotator_index, _ = split
    config = AnnotatorConfig(n_annotators=3, epochs=4)
    return train_annotators(digits.subset(annotator_index), config, SEED)


class FixedMember(nn.Module):
    """A stand-in annotator that returns given softmax probabilities, one row per image."""

    def __init__(self, probabilities: list[list[float]]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(probabilities).log(), requires_grad=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(images)]


def confident(digit: int, p: float = 0.9) -> list[float]:
    row = [(1 - p) / 9] * 10
    row[digit] = p
    return row


def test_annotators_majority_is_accurate_on_heldout_digits(annotators, digits, split):
    _, manipulator_index = split  # real digits the annotators never trained on
    score = annotators.score(digits.subset(manipulator_index))
    assert score["accuracy"] >= 0.9
    assert score["unsure"] < 0.1
    assert len(score["member_accuracy"]) == 3


def test_annotators_say_unsure_for_blank_and_noise(annotators):
    generator = torch.Generator().manual_seed(123)
    blank = torch.zeros(16, 28, 28)
    noise = torch.rand(64, 784, generator=generator)
    assert (annotators.answer(blank) == UNSURE).all()
    assert (annotators.answer(noise) == UNSURE).all()
    assert annotators.answer(noise).dtype == torch.long


def test_members_disagree_because_each_has_its_own_seed_and_bootstrap(annotators, digits, split):
    _, manipulator_index = split
    votes = annotators.votes(digits.images[manipulator_index[:500]])
    assert votes.shape == (3, 500)
    assert (votes[0] != votes[1]).any() and (votes[1] != votes[2]).any()


def test_majority_vote_needs_more_than_half_of_all_members():
    votes = torch.tensor(
        [
            # image: 0   1       2       3       4
            [7, 7, 7, UNSURE, 2],
            [7, 7, 7, UNSURE, 2],
            [7, UNSURE, 1, UNSURE, 3],
            [1, UNSURE, 1, UNSURE, 3],
            [1, UNSURE, UNSURE, 4, UNSURE],
        ]
    )
    # 3 of 5 -> 7; 2 of 5 with three "?" -> "?"; 2-2-1 tie -> "?"; all "?" -> "?"; 2 of 5 -> "?"
    assert majority_vote(votes).tolist() == [7, UNSURE, UNSURE, UNSURE, UNSURE]
    assert majority_vote(torch.tensor([[5], [5], [6], [6]])).tolist() == [UNSURE]  # 2-2 of 4
    assert majority_vote(torch.tensor([[5], [5], [5], [6]])).tolist() == [5]
    with pytest.raises(ValueError, match=r"\(members, Q\)"):
        majority_vote(torch.tensor([1, 2, 3]))


def test_hand_built_ensemble_votes_with_the_confidence_rule():
    # Three images; every member gives a probability table, one row per image.
    members = [
        FixedMember([confident(7), confident(4, 0.6), confident(2)]),
        FixedMember([confident(7), confident(4, 0.8), confident(3)]),
        FixedMember([confident(7, 0.65), confident(4, 0.75), confident(2, 0.65)]),
    ]
    ensemble = Annotators(members, confidence=0.7)
    images = torch.zeros(3, 784)
    assert ensemble.votes(images).tolist() == [
        [7, UNSURE, 2],
        [7, 4, 3],
        [UNSURE, 4, UNSURE],  # 0.65 falls below the confidence: "?"
    ]
    assert ensemble.answer(images).tolist() == [7, 4, UNSURE]
    # A lower bar turns the hesitant member's "?" into a vote, and so a majority for '2'.
    assert Annotators(members, confidence=0.6).answer(images).tolist() == [7, 4, 2]

    oracle_7, oracle_4 = one_vs_all_oracle(ensemble, 7), one_vs_all_oracle(ensemble, 4)
    assert oracle_7(images).tolist() == [1, 0, 0]  # another digit and "?" are both T = 0
    assert oracle_4(images).tolist() == [0, 1, 0]
    assert one_vs_all_oracle(ensemble, 2)(images).tolist() == [0, 0, 0]  # "?" is not a '2'


def test_annotator_and_manipulator_digits_are_disjoint_and_stratified(digits, split):
    annotator_index, manipulator_index = split
    assert not set(annotator_index.tolist()) & set(manipulator_index.tolist())
    assert len(annotator_index) + len(manipulator_index) == len(digits)
    for part in split:
        assert torch.bincount(digits.labels[part], minlength=10).tolist() == [250] * 10
    index = digit_training_set(digits.labels, manipulator_index, 7, 300, SEED)
    assert set(index.tolist()) <= set(manipulator_index.tolist())
    assert len(set(index.tolist())) == 300
    assert int((digits.labels[index] == 7).sum()) == 150  # Supp. E: half the target digit


def test_a_tiny_run_records_fig6_and_chains_through_every_iteration():
    config = MnistCflConfig(
        annotators=AnnotatorConfig(n_annotators=1, epochs=1),
        per_digit=40,
        manipulator=ManipulatorConfig(
            iterations=2,
            queries=10,
            alpha=0.5,
            search_steps=20,
            train=TrainConfig(hidden=20, steps=30, weight_decay=3e-2),
        ),
        digits=(3, 8),
    )
    result = run_mnist_cfl(config, SEED)
    assert not set(result.annotator_index.tolist()) & set(result.manipulator_index.tolist())
    for digit in (3, 8):
        assert set(result.training_index[digit].tolist()) <= set(result.manipulator_index.tolist())
        assert len(result.merr[digit]) == len(result.mdist[digit]) == 2
        assert result.runs[digit].merr == result.merr[digit]
    expected = torch.tensor([result.merr[3], result.merr[8]]).mean(dim=0)
    assert result.mean_merr == pytest.approx(expected.tolist())
    assert all(0 <= m <= 1 for m in result.mean_merr) and all(d >= 0 for d in result.mean_mdist)
    assert 0 <= result.annotator_unsure <= 1 and result.seconds >= result.annotator_seconds > 0

    run = result.runs[3]
    digits = mnist(SEED)
    original = digits.images[result.training_index[3][0]].reshape(784)
    target = 1 - int(digits.labels[result.training_index[3][0]] == 3)
    chain = manipulator_chain(run, original, target, alpha=0.5, steps=20)
    assert chain.shape == (len(run.iterations) + 2, 784)
    assert torch.equal(chain[0], original)
    assert ((chain >= 0) & (chain <= 1)).all()
    # Every manipulator starts from the ORIGINAL image, not from the previous row.
    first = relaxed_manipulation(
        run.iterations[0].net, original[None], torch.tensor([target]), 0.5, 20
    )
    assert torch.allclose(chain[1], first[0])
    last = relaxed_manipulation(run.net, original[None], torch.tensor([target]), 0.5, 20)
    assert torch.allclose(chain[-1], last[0])
    # (28, 28) images are accepted too.
    assert torch.allclose(manipulator_chain(run, original.reshape(28, 28), target, 0.5, 20), chain)


def test_presets():
    quick, paper = cfl.config("quick").mnist, cfl.config("paper").mnist
    assert set(cfl.PRESETS) == {"quick", "paper"}
    assert paper.digits == tuple(range(10)) and len(quick.digits) == 3
    assert paper.manipulator.iterations == 5 and paper.manipulator.train.hidden == 300
    assert quick.manipulator.iterations < paper.manipulator.iterations
    assert paper.annotators.n_annotators == 5  # Supp. E: five annotators per image
    with pytest.raises(ValueError, match="unknown preset"):
        cfl.config("huge")


def test_bad_inputs_raise_clear_errors(annotators):
    with pytest.raises(ValueError, match=r"\(Q, 784\) or \(Q, 28, 28\)"):
        annotators.answer(torch.zeros(784))
    with pytest.raises(ValueError, match=r"\(Q, 784\) or \(Q, 28, 28\)"):
        annotators.answer(torch.zeros(2, 27, 27))
    for digit in (-1, 10, 7.0, True):
        with pytest.raises(ValueError, match=r"integer in 0\.\.9"):
            one_vs_all_oracle(annotators, digit)
    for confidence in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\]"):
            AnnotatorConfig(confidence=confidence)
        with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\]"):
            Annotators(annotators.members, confidence=confidence)
    Annotators(annotators.members, confidence=1.0)  # the closed end is allowed
    with pytest.raises(ValueError, match="n_annotators"):
        AnnotatorConfig(n_annotators=0)
    with pytest.raises(ValueError, match=r"integer in 0\.\.9"):
        MnistCflConfig(digits=(3, 10))
    with pytest.raises(ValueError, match="distinct"):
        MnistCflConfig(digits=(3, 3))
    with pytest.raises(ValueError, match="annotator_share"):
        MnistCflConfig(annotator_share=1.0)
    labels = torch.arange(100) % 10
    with pytest.raises(ValueError, match="pool has only"):
        digit_training_set(labels, torch.arange(100), 4, 40, SEED)


def test_manipulator_chain_rejects_bad_images_and_targets():
    net = CausalNet(784, hidden=4)
    empty = torch.zeros(0, 784)
    iteration = Iteration(empty, empty, torch.zeros(0), torch.zeros(0), 0.0, 0.0, net)
    run = ManipulatorRun([iteration], net, empty, torch.zeros(0), 0.0)
    with pytest.raises(ValueError, match=r"\(784,\) or \(28, 28\)"):
        manipulator_chain(run, torch.zeros(1, 784), 1, 0.5)
    with pytest.raises(ValueError, match=r"\(784,\) or \(28, 28\)"):
        manipulator_chain(run, torch.zeros(783), 1, 0.5)
    with pytest.raises(ValueError, match="causal class 0 or 1"):
        manipulator_chain(run, torch.zeros(784), 7, 0.5)
    assert manipulator_chain(run, torch.zeros(784), 1, 0.5, steps=3).shape == (3, 784)


def test_mnist_run_is_deterministic_for_a_seed():
    config = MnistCflConfig(
        annotators=AnnotatorConfig(n_annotators=1, epochs=1),
        per_digit=40,
        manipulator=ManipulatorConfig(
            iterations=2, queries=10, search_steps=10, train=TrainConfig(hidden=10, steps=20)
        ),
        digits=(5,),
    )
    first, second = run_mnist_cfl(config, SEED), run_mnist_cfl(config, SEED)
    assert first.merr == second.merr and first.mdist == second.mdist
    assert torch.equal(first.runs[5].images, second.runs[5].images)
