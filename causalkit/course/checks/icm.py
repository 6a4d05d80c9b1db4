"""Graders for the ICM notebook's exercises (``notebooks/03_icm.ipynb``).

Exercises 1-4 read the trained quick-preset run (cached once the notebook has run);
exercise 5 is checked against the package's own Alg. 1 step on random logits and on one
iteration with tiny networks, with no trained model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from causalkit.course.checks import calls_none_of, check

# What exercise 5 must not call: the package's versions of the computation it asks for.
_PACKAGE_STEP = (
    "eq3_discriminator_loss",
    "eq2_winner_loss",
    "competition_step",
    "judge",
    "specialisation_matrix",
)


@check("icm", 1, "exercise_1_who_undoes_what", "Who undoes what?")
def who_undoes_what(answer: Callable) -> None:
    result = answer()
    owned = {name: a for name, a in result.items() if a["share"] >= 0.9}
    assert len(owned) >= 5, (
        f"only {len(owned)} mechanisms have an expert winning at least 90 % of their digits "
        "(the quick preset gives at least 5): is 'share' the dominant expert's entry of "
        "the mechanism's row in the final Fig. 5 matrix?"
    )
    ratios = {name: a["error_expert"] / a["error_transformed"] for name, a in owned.items()}
    assert max(ratios.values()) < 0.75, (
        "every dominant expert should remove much of its mechanism's error "
        f"(error after the expert / error before it, per mechanism: {ratios}); apply the "
        "mechanism's own dominant expert to its transformed digits and compare both with "
        "the clean digits"
    )
    assert sum(r < 0.5 for r in ratios.values()) > len(ratios) / 2, (
        f"most dominant experts should at least halve their mechanism's error (ratios: {ratios})"
    )


@check("icm", 2, "exercise_2_undo_a_known_chain", "Undo a known chain by hand")
def undo_a_known_chain(answer: Callable) -> None:
    errors = answer()
    assert (
        min(errors["error_reverse_order"], errors["error_paper_order"])
        < errors["error_transformed"]
    ), (
        "at least one order of the dominant experts should bring the chained symbols closer "
        f"to the clean ones than they were (errors: {errors}); is each mechanism undone by "
        "its own dominant expert, and is every error measured against the clean symbols?"
    )


@check("icm", 3, "exercise_3_is_the_judge_right", "Is the discriminator a good judge?")
def is_the_judge_right(answer: Callable) -> None:
    result = answer()
    agreements = sorted(a["agreement"] for a in result.values())
    assert len(agreements) >= 5, "return one entry per mechanism (all ten of MECHANISMS)"
    assert agreements[-5] >= 0.8, (
        "at least five mechanisms should send at least 80 % of their digits to their dominant "
        f"expert (agreements, sorted: {[round(a, 2) for a in agreements]}); compare each "
        "digit's highest-scoring expert with the mechanism's dominant expert in the final "
        "Fig. 5 matrix"
    )
    assert all(a["error_winner"] >= 0 and a["error_dominant"] >= 0 for a in result.values()), (
        "a mean squared error cannot be negative: measure the winners' and the dominant "
        "expert's outputs against the clean digits"
    )


@check("icm", 4, "exercise_4_half_a_shift", "A mechanism nobody trained for")
def half_a_shift(answer: Callable) -> None:
    result = answer()
    total = sum(result["winner_shares"])
    assert abs(total - 1) < 1e-6, (
        f"the winner shares should add up to 1 (they add up to {total:.6f}): one share per "
        "expert, the fraction of shifted digits that expert wins"
    )
    assert result["accuracy_clean"] > result["accuracy_shifted"] - 0.02, (
        f"the classifier reads the clean digits at {result['accuracy_clean']:.3f} and the "
        f"shifted ones at {result['accuracy_shifted']:.3f}: are the shifted digits the test "
        "digits moved 2 pixels down, and the clean accuracy on the untouched test digits?"
    )


def _close(got: object, want: torch.Tensor, tolerance: float = 1e-5) -> bool:
    value = float(torch.as_tensor(got, dtype=torch.float64))
    return abs(value - float(want)) <= tolerance * max(1.0, abs(float(want)))


def _compare(answer: Callable, fake_logits: torch.Tensor, real_logits: torch.Tensor, where: str):
    from causalkit.icm.model import eq3_discriminator_loss

    got = answer(fake_logits.clone(), real_logits.clone())
    winners = torch.as_tensor(got["winners"]).long().flatten()
    want = fake_logits.argmax(dim=1)
    assert winners.shape == want.shape and torch.equal(winners, want), (
        f"{where}: 'winners' should hold, for each of the {len(want)} examples, the index of "
        "the expert whose output D scores highest (a row's largest logit)"
    )
    wins = torch.as_tensor(got["wins"]).long().flatten()
    counts = torch.bincount(want, minlength=fake_logits.shape[1])
    assert wins.shape == counts.shape and torch.equal(wins, counts), (
        f"{where}: 'wins' should count, for each of the {fake_logits.shape[1]} experts "
        f"(losers too, with 0), how many examples it won; expected {counts.tolist()}"
    )
    loss = eq3_discriminator_loss(real_logits, fake_logits)
    assert _close(got["disc_loss"], loss), (
        f"{where}: 'disc_loss' is {float(torch.as_tensor(got['disc_loss'])):.6f}, Eq. 3 negated "
        f"gives {float(loss):.6f}; average -log D over the real digits and -log(1 - D) over "
        "every example and every expert, losers included"
    )


@check("icm", 5, "exercise_5_winners_and_eq3", "The winner-take-all step and Eq. 3")
def winners_and_eq3(answer: Callable) -> None:
    from causalkit.icm.model import Committee, Discriminator, ExpertAdam
    from causalkit.icm.train import competition_step

    calls_none_of(answer, *_PACKAGE_STEP)
    generator = torch.Generator().manual_seed(0)
    for batch, experts, n_real in [(32, 10, 32), (7, 3, 5), (1, 16, 4), (64, 6, 50)]:
        fake_logits = 3 * torch.randn(batch, experts, generator=generator)
        real_logits = 3 * torch.randn(n_real, generator=generator)
        _compare(
            answer, fake_logits, real_logits, f"random logits, {batch} examples x {experts} experts"
        )

    # One real iteration of Alg. 1 with tiny networks: the same logits the package's step sees.
    with torch.random.fork_rng(devices=[]):  # seeded weights; the student's RNG is left alone
        torch.manual_seed(0)
        committee, discriminator = Committee(n_experts=3, width=4, depth=2), Discriminator()
    transformed = torch.rand(8, 1, 32, 32, generator=generator)
    real = torch.rand(8, 1, 32, 32, generator=generator)
    with torch.no_grad():
        outputs = committee(transformed)
        fake_logits = discriminator(outputs.flatten(0, 1)).view(8, 3)
        real_logits = discriminator(real)
    step = competition_step(
        committee,
        discriminator,
        ExpertAdam(committee.expert_parameters()),
        torch.optim.Adam(discriminator.parameters()),
        transformed,
        real,
    )
    got = answer(fake_logits, real_logits)
    assert torch.equal(torch.as_tensor(got["winners"]).long().flatten(), step["winners"]), (
        "on one iteration of Alg. 1, your winners differ from competition_step's"
    )
    assert _close(got["disc_loss"], step["disc_loss"]), (
        "on one iteration of Alg. 1, your discriminator loss differs from competition_step's"
    )
