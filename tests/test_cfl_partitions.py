"""Exact partitions of finite visual-causation models (Chalupka et al. 2015, §2.2-2.4, Supp. B)."""

import numpy as np
import pytest

from causalkit.cfl.partitions import (
    CCT_TOLERANCE,
    SUPPLEMENT_B,
    FiniteModel,
    causal_probs,
    check_complete_description,
    is_coarsening,
    observational_probs,
    partition,
    partitions,
    relation,
    supplement_b_ok,
    visual_cause_and_spurious_correlate,
)


def fs(*cells):
    return tuple(frozenset(c) for c in cells)


# T ignores H, so there is no confounding and P(T | I) = P(T | man(I)) = the row itself.
UNCONFOUNDED = FiniteModel([0.3, 0.7], [[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]], [[0.2, 0.2, 0.7]] * 2)
# H tilts I and T: by hand P(T=1|I=0) = .8*.1 + .2*.5 = .18, P(T=1|I=1) = .2*.3 + .8*.3 = .3,
# but both manipulations give .5*.1 + .5*.5 = .5*.3 + .5*.3 = .3.
CONFOUNDED = FiniteModel([0.5, 0.5], [[0.8, 0.2], [0.2, 0.8]], [[0.1, 0.3], [0.5, 0.3]])
# Two copies of each CONFOUNDED image: Πo = {0,1},{2,3} inside the single causal class, so
# C = 0 everywhere and S separates the halves (Def. 6) with several images per cell.
DOUBLED = FiniteModel(
    [0.5, 0.5],
    [[0.4, 0.4, 0.1, 0.1], [0.1, 0.1, 0.4, 0.4]],
    [[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.3, 0.3]],
)


def test_unconfounded_model_partitions_are_equal():
    np.testing.assert_allclose(observational_probs(UNCONFOUNDED), [0.2, 0.2, 0.7])
    np.testing.assert_allclose(causal_probs(UNCONFOUNDED), [0.2, 0.2, 0.7])
    obs, causal = partitions(UNCONFOUNDED, 1e-12)
    assert obs == causal == fs({0, 1}, {2})
    assert relation(obs, causal) == "equal"


def test_confounded_model_causal_strictly_coarsens():
    np.testing.assert_allclose(observational_probs(CONFOUNDED), [0.18, 0.3])
    np.testing.assert_allclose(causal_probs(CONFOUNDED), [0.3, 0.3])
    obs, causal = partitions(CONFOUNDED, 1e-12)
    assert (obs, causal) == (fs({0}, {1}), fs({0, 1}))
    assert relation(obs, causal) == "causal coarsens observational"
    c, s = visual_cause_and_spurious_correlate(CONFOUNDED, 1e-12)
    assert c.tolist() == [0, 0] and s.tolist() == [0, 1]


def test_spurious_correlate_and_theorem_7():
    c, s = visual_cause_and_spurious_correlate(DOUBLED, 1e-12)
    assert c.tolist() == [0, 0, 0, 0] and s.tolist() == [0, 0, 1, 1]
    assert check_complete_description(DOUBLED, 1e-12) < 1e-12
    assert check_complete_description(SUPPLEMENT_B[0].model, CCT_TOLERANCE) < 1e-12


def test_partition_tolerance_chaining_and_order():
    assert partition(np.array([0.5, 0.1, 0.5, 0.1]), 0.0) == fs({0, 2}, {1, 3})
    assert partition(np.array([0.3, 0.1, 0.2]), 0.1 + 1e-9) == fs({0, 1, 2})  # chain .1-.2-.3
    assert partition(np.array([0.3, 0.1, 0.2]), 0.05) == fs({0}, {1}, {2})
    with pytest.raises(ValueError, match="tol must be"):
        partition(np.array([0.1]), -1e-3)
    with pytest.raises(ValueError, match="1-D"):
        partition(np.zeros((2, 2)), 0.1)


def test_is_coarsening_and_relation_on_hand_made_partitions():
    fine, coarse, other = fs({0}, {1}, {2, 3}), fs({0, 1}, {2, 3}), fs({0, 2}, {1, 3})
    assert is_coarsening(coarse, fine) and not is_coarsening(fine, coarse)
    assert is_coarsening(fine, fine)  # improper coarsening
    assert is_coarsening(fs({0, 1, 2, 3}), other)
    assert not is_coarsening(coarse, other) and not is_coarsening(other, coarse)
    assert relation(fine, coarse) == "causal coarsens observational"
    assert relation(coarse, fine) == "observational coarsens causal"
    assert relation(coarse, other) == "incompatible"
    assert relation(fs({1}, {0}), fs({0}, {1})) == "equal"  # cell order is irrelevant
    with pytest.raises(ValueError, match="different sets"):
        is_coarsening(fs({0, 1}), fs({0}, {2}))
    with pytest.raises(ValueError, match="not a partition"):
        is_coarsening(fs({0, 1}, {1}), fs({0}, {1}))


@pytest.mark.parametrize(
    ("index", "obs_cells", "causal_cells"),
    [
        (0, [{0}, {1}, {2}], [{0, 1}, {2}]),
        (1, [{0, 1}, {2}], [{0}, {1}, {2}]),
        (2, [{0}, {1, 2}], [{0, 1}, {2}]),
    ],
)
def test_supplement_b_tables(index, obs_cells, causal_cells):
    table = SUPPLEMENT_B[index]
    obs, causal = partitions(table.model, CCT_TOLERANCE)
    assert (obs, causal) == (fs(*obs_cells), fs(*causal_cells))
    assert relation(obs, causal) == table.relation


def test_supplement_b_values_and_metric():
    assert [t.relation for t in SUPPLEMENT_B] == [
        "causal coarsens observational",
        "observational coarsens causal",
        "incompatible",
    ]
    table1 = SUPPLEMENT_B[0].model
    np.testing.assert_allclose(table1.p_i_given_h[:, 2], [1 - 0.3426 - 0.1239, 1 - 0.3255 - 0.5097])
    np.testing.assert_allclose(
        observational_probs(table1), [0.875301, 0.932844, 0.635616], atol=1e-6
    )
    np.testing.assert_allclose(causal_probs(table1), [0.875428, 0.875451, 0.712961], atol=1e-6)
    assert supplement_b_ok()


def test_supplement_b_coincidences_hold_only_to_printed_precision():
    # At 1e-6 the engineered equality P(T|man(I=0)) = P(T|man(I=1)) of table 1 falls apart.
    obs, causal = partitions(SUPPLEMENT_B[0].model, 1e-6)
    assert len(causal) == 3 and relation(obs, causal) == "equal"


def test_incompatible_table_has_no_spurious_correlate():
    with pytest.raises(ValueError, match="does not refine"):
        visual_cause_and_spurious_correlate(SUPPLEMENT_B[2].model, CCT_TOLERANCE)
    with pytest.raises(ValueError, match="does not refine"):
        check_complete_description(SUPPLEMENT_B[1].model, CCT_TOLERANCE)


@pytest.mark.parametrize(
    ("p_h", "p_i", "p_t", "message"),
    [
        ([[0.5, 0.5]], [[1.0]], [[0.5]], "p_h must be a non-empty 1-D"),
        ([0.5, 0.5], [[0.5, 0.5]], [[0.5, 0.5]], "one row per H value"),
        ([1.0], [[0.5, 0.5]], [[0.5, 0.5, 0.5]], r"p_t1_given_h_i must have shape \(1, 2\)"),
        ([1.2, -0.2], [[1.0], [1.0]], [[0.5], [0.5]], r"p_h must hold probabilities in \[0, 1\]"),
        ([1.0], [[0.5, 0.5]], [[0.5, 1.5]], "p_t1_given_h_i must hold probabilities"),
        ([1.0], [[0.5, np.nan]], [[0.5, 0.5]], "p_i_given_h must hold probabilities"),
        ([0.5, 0.4], [[1.0], [1.0]], [[0.5], [0.5]], "p_h must sum to 1"),
        ([0.5, 0.5], [[0.5, 0.5], [0.5, 0.4]], [[0.5] * 2] * 2, r"rows \[1\] of p_i_given_h"),
        ([1.0], [[1.0, 0.0]], [[0.5, 0.5]], r"images \[1\] have P\(I=i\) = 0"),
    ],
)
def test_bad_models_are_refused(p_h, p_i, p_t, message):
    with pytest.raises(ValueError, match=message):
        FiniteModel(p_h, p_i, p_t)


def test_model_tables_are_frozen_float64():
    assert UNCONFOUNDED.p_h.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        UNCONFOUNDED.p_t1_given_h_i[0, 0] = 1.0
