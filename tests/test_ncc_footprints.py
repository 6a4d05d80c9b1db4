"""§2.1's causal footprints (Fig. 3): the asymmetries the NCC is meant to learn."""

from __future__ import annotations

import numpy as np
import pytest

from causalkit.ncc.footprints import linear_anm_footprint, monotone_footprint, residual_spread


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_anm_residual_is_flat_forward_and_not_backward(seed):
    footprint = linear_anm_footprint(seed=seed)
    assert footprint["forward"].ratio < 1.2
    assert footprint["backward"].ratio > 1.6


def test_residual_spread_by_hand():
    # target = 2·regressor exactly, plus ±1 in the upper half only: the spread steps up.
    regressor = np.arange(40, dtype=float)
    noise = np.where(regressor >= 20, np.tile([1.0, -1.0], 20), 0.0)
    result = residual_spread(regressor, 2 * regressor + noise, bins=2)
    assert result.centres.tolist() == [9.5, 29.5]
    assert result.spread[0] < 0.2 < 0.8 < result.spread[1]
    assert result.residuals.shape == (40,)


def test_monotone_mechanism_piles_the_effect_where_its_slope_is_small():
    footprint = monotone_footprint(seed=0)
    y, slope = footprint["y"], footprint["slope"]
    flat = np.abs(y) < 0.1  # where f' is smallest
    width = 0.2 / (y.max() - y.min())
    assert flat.mean() > 3 * width  # far more mass than a uniform Y would have
    assert slope.min() == pytest.approx(0.25, abs=0.01)


def test_residual_spread_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        residual_spread(np.zeros(10), np.zeros(11))
    with pytest.raises(ValueError, match="5 points per bin"):
        residual_spread(np.arange(10.0), np.arange(10.0), bins=4)
