"""Graders for the tour's exercises (``notebooks/00_tour.ipynb``)."""

from __future__ import annotations

from collections.abc import Callable

from causalkit.course.checks import check


@check("tour", 1, "exercise_1_perfect_barometer", "A perfect barometer")
def perfect_barometer(answer: Callable) -> None:
    result = answer()
    seen, done, (limit,) = result["seen"], result["done"], result["limit"]
    assert seen[0] < seen[1] < seen[2], "a less noisy reading should be more informative"
    assert abs(seen[-1] - limit) <= 0.01, (
        f"P(S | B = b) should approach the storm probability at pressure b ({limit:.3f})"
    )
    assert max(done) - min(done) < 1e-12, "P(S | do(B = b)) should not depend on the noise"


@check("tour", 2, "exercise_2_simulated_intervention", "Intervene in simulation")
def simulated_intervention(answer: Callable) -> None:
    result = answer()
    (exact,) = result["closed_form_done"]
    assert all(abs(d - exact) < 0.01 for d in result["done"]), (
        f"every do(B = b) estimate should be within 0.01 of P(S) = {exact:.3f}"
    )
    assert result["seen"][0] - result["seen"][-1] > 0.5, (
        "storms among observed low readings should be far more frequent than among high ones"
    )


@check("tour", 3, "exercise_3_less_data", "How much data does the model need?")
def less_data(answer: Callable) -> None:
    result = answer()
    assert 0.7 < result["small"] < result["full"], (
        "a tenth of the digits should cost a little accuracy, not all of it"
    )
    assert result["full"] > 0.85, "the full model's test accuracy should be above 0.85"
