"""The two causal footprints of §2.1 (Fig. 3), as data a notebook can plot and a test can check.

(a, b) A linear additive noise model Y = X + E with X and E independent and uniform:
regressing Y on X leaves a residual whose spread does not depend on X, but regressing
X on Y leaves one whose spread changes with Y. No linear ANM fits the anticausal
direction with independent noise (Hoyer et al., 2009).

(c) A deterministic, monotone Y = f(X) with X uniform: the density of Y is large
where f' is small, so P(Y) "knows" the mechanism, while P(X) does not (Daniušis et
al., 2010, the idea behind IGCI).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ResidualSpread:
    """Least-squares residuals of ``target`` on ``regressor`` and their spread per bin."""

    centres: np.ndarray  # bin centres, in units of the regressor
    spread: np.ndarray  # residual standard deviation within each bin
    residuals: np.ndarray

    @property
    def ratio(self) -> float:
        """Largest over smallest binned spread: about 1 when the residual is homoscedastic."""
        return float(self.spread.max() / self.spread.min())


def residual_spread(regressor: np.ndarray, target: np.ndarray, bins: int = 8) -> ResidualSpread:
    """Fit ``target ≈ a·regressor + b`` and measure the residual's spread in equal-count bins.

    The red bars of Fig. 3b: with an independent noise the spread is flat.
    """
    regressor, target = np.asarray(regressor, float), np.asarray(target, float)
    if regressor.ndim != 1 or regressor.shape != target.shape:
        raise ValueError("regressor and target must be 1-D arrays of the same length")
    if bins < 2 or len(regressor) < 5 * bins:
        raise ValueError(f"need bins >= 2 and at least 5 points per bin, got {bins} bins")
    slope, intercept = np.polyfit(regressor, target, 1)
    residuals = target - (slope * regressor + intercept)
    order = np.argsort(regressor)
    groups = np.array_split(order, bins)
    centres = np.array([regressor[g].mean() for g in groups])
    spread = np.array([residuals[g].std() for g in groups])
    return ResidualSpread(centres, spread, residuals)


def linear_anm_footprint(n: int = 2000, seed: int = 0) -> dict[str, object]:
    """Fig. 3a-b: Y = X + E, X ~ U[-1, 1], E ~ U[-0.5, 0.5]; residual spreads both ways."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    y = x + rng.uniform(-0.5, 0.5, n)
    return {
        "x": x,
        "y": y,
        "forward": residual_spread(x, y),  # Y on X: the true mechanism's noise
        "backward": residual_spread(y, x),  # X on Y: no independent noise exists
    }


def monotone_footprint(n: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Fig. 3c: Y = f(X) = X³ + X / 4 on X ~ U[-1, 1]; f' is smallest near 0, where Y piles up."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    return {"x": x, "y": x**3 + x / 4, "slope": 3 * x**2 + 0.25}
