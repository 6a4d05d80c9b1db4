"""§3.1 of Lopez-Paz et al., "Discovering Causal Signals in Images" (CVPR 2017,
https://arxiv.org/abs/1605.08179): synthetic cause-effect pairs from a heteroscedastic
additive noise model, y_ij = f_i(x_ij) + v_ij e_ij, shown in both directions (Eq. 4) and
optionally as a permuted, uncorrelated copy labelled ½ (§4.2).

:func:`draw_params` is §3.1's parameter distribution, written once: training
(:func:`sample_causal`, :func:`sample_pairs`) and the playground panel both draw from it.
:func:`pair_from_params` builds one pair from explicit parameters (what a panel varies).

Where the text leaves a choice open, the choice is a field of :class:`GeneratorConfig`
(what each reading scored is in ``docs/ncc-log.md``):

* "Gaussian(0, v)": ``noise="sd"`` reads v as the standard deviation, ``noise="variance"``
  as the variance.
* Knot placement: the d knots of both splines are evenly spaced over the support of
  Eq. 3 (the RCC generator of ref. [17]/[18] uses ``linspace`` the same way).
* "Cubic Hermite spline": ``slopes="finite-difference"`` takes each knot's slope as the mean
  of its two neighbouring secants (one-sided at the ends), the textbook spline, which may
  overshoot its knots; ``slopes="pchip"`` uses the monotone slopes of Fritsch & Carlson
  (scipy's ``PchipInterpolator``), which never do.
* "Smoothing spline" for v_ij: the least-squares cubic through the d knots, i.e. the
  spline with no interior knots that ``scipy.interpolate.UnivariateSpline`` fits first;
  it interpolates 4 knots and smooths 5. Its absolute value scales the noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

MAX_COMPONENTS = 5  # k ~ RandomInteger[1, 5]
KNOT_CHOICES = (4, 5)  # d ~ RandomInteger(4, 5)
NOISE_CONVENTIONS = ("sd", "variance")


@dataclass(frozen=True)
class GeneratorConfig:
    """The random ranges of §3.1 (paper values by default) and the readings of its gaps."""

    mixture_scale: float = 5.0  # r, s ~ U[0, 5]
    noise_max: float = 5.0  # v ~ U[0, noise_max]
    hetero_max: float = 5.0  # heteroscedastic knots ~ U[0, hetero_max]
    noise: str = "variance"  # how to read Gaussian(0, v); see the module docstring
    slopes: str = "finite-difference"  # the cubic Hermite spline's knot slopes; ditto

    def __post_init__(self) -> None:
        if self.noise not in NOISE_CONVENTIONS:
            raise ValueError(f"noise must be one of {NOISE_CONVENTIONS}, got {self.noise!r}")
        _check_slopes(self.slopes)
        for name in ("mixture_scale", "noise_max", "hetero_max"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")


@dataclass(frozen=True)
class PairParams:
    """Everything that fixes one §3.1 pair apart from the Gaussian draws themselves.

    weights, means, sds: the cause's mixture (k components; weights need not be normalised).
    mechanism_knots: f's values at d evenly spaced knots over the Eq. 3 support.
    noise_level: v of Gaussian(0, v). hetero_knots: v_ij's values at its d knots.
    """

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    mechanism_knots: np.ndarray
    noise_level: float
    hetero_knots: np.ndarray
    n_points: int = 1000


def _standardise(a: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance along the last axis (§3.1 normalises x, f(x) and y)."""
    centred = a - a.mean(axis=-1, keepdims=True)
    sd = centred.std(axis=-1, keepdims=True)
    return centred / np.where(sd > 0, sd, 1.0)


def support(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eq. 3: [min(x) − std(x), max(x) + std(x)] along the last axis."""
    sd = x.std(axis=-1)
    return x.min(axis=-1) - sd, x.max(axis=-1) + sd


def pchip_slopes(values: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson monotone slopes at unit-spaced knots, (B, d) -> (B, d).

    Interior slopes are the harmonic mean of the neighbouring secants (zero at a local
    extremum); end slopes use the three-point formula, limited as in scipy's pchip.
    """
    delta = np.diff(values, axis=-1)
    slopes = np.zeros_like(values)
    left, right = delta[:, :-1], delta[:, 1:]
    same_sign = left * right > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = 2.0 / (1.0 / left + 1.0 / right)
    slopes[:, 1:-1] = np.where(same_sign, harmonic, 0.0)
    for end, (d0, d1) in {0: (delta[:, 0], delta[:, 1]), -1: (delta[:, -1], delta[:, -2])}.items():
        s = (3 * d0 - d1) / 2
        s = np.where(np.sign(s) != np.sign(d0), 0.0, s)
        s = np.where((np.sign(d0) != np.sign(d1)) & (np.abs(s) > 3 * np.abs(d0)), 3 * d0, s)
        slopes[:, end] = s
    return slopes


def finite_difference_slopes(values: np.ndarray) -> np.ndarray:
    """Slopes at unit-spaced knots, (B, d) -> (B, d): the mean of the two neighbouring
    secants, (v_(k+1) - v_(k-1)) / 2, and the one secant at either end."""
    slopes = np.empty_like(values)
    slopes[:, 1:-1] = (values[:, 2:] - values[:, :-2]) / 2
    slopes[:, 0] = values[:, 1] - values[:, 0]
    slopes[:, -1] = values[:, -1] - values[:, -2]
    return slopes


# The spline's slope rules by name (module docstring); GeneratorConfig.slopes names one.
_SLOPES = {"finite-difference": finite_difference_slopes, "pchip": pchip_slopes}
SLOPE_RULES = tuple(_SLOPES)


def _check_slopes(slopes: object) -> None:
    if slopes not in SLOPE_RULES:
        raise ValueError(f"slopes must be one of {SLOPE_RULES}, got {slopes!r}")


def hermite_spline(
    x: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    values: np.ndarray,
    slopes: str = "finite-difference",
) -> np.ndarray:
    """f(x) for a cubic Hermite spline through evenly spaced knots (§3.1).

    x: (B, m); lo, hi: (B,) the support of Eq. 3; values: (B, d) the knot values; ``slopes``
    one of :data:`SLOPE_RULES` (module docstring).
    """
    _check_slopes(slopes)
    d = values.shape[-1]
    t = (x - lo[:, None]) / (hi - lo)[:, None] * (d - 1)  # knot coordinate in [0, d - 1]
    idx = np.clip(np.floor(t).astype(np.int64), 0, d - 2)
    u = t - idx
    knot_slopes = _SLOPES[slopes](values)
    y0, y1 = np.take_along_axis(values, idx, -1), np.take_along_axis(values, idx + 1, -1)
    m0, m1 = np.take_along_axis(knot_slopes, idx, -1), np.take_along_axis(knot_slopes, idx + 1, -1)
    u2, u3 = u * u, u * u * u
    return (
        (2 * u3 - 3 * u2 + 1) * y0
        + (u3 - 2 * u2 + u) * m0
        + (-2 * u3 + 3 * u2) * y1
        + (u3 - u2) * m1
    )


def smoothing_spline(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """v_ij of §3.1: least-squares cubic through d evenly spaced knots, evaluated at x."""
    d = values.shape[-1]
    grid = np.linspace(0.0, 1.0, d)
    vander = np.vander(grid, 4, increasing=True)  # (d, 4)
    coef = values @ np.linalg.pinv(vander).T  # (B, 4)
    t = (x - lo[:, None]) / (hi - lo)[:, None]
    return coef[:, :1] + t * (coef[:, 1:2] + t * (coef[:, 2:3] + t * coef[:, 3:4]))


def _grouped_by_knots(fn, x, lo, hi, knots: list[np.ndarray]) -> np.ndarray:
    """Apply a spline to pairs with d = 4 or 5 knots, one vectorised call per d."""
    out = np.empty_like(x)
    sizes = np.array([len(k) for k in knots])
    for d in np.unique(sizes):
        rows = np.flatnonzero(sizes == d)
        out[rows] = fn(x[rows], lo[rows], hi[rows], np.stack([knots[r] for r in rows]))
    return out


def _mixture_draws(
    weights: np.ndarray, means: np.ndarray, sds: np.ndarray, m: int, rng: np.random.Generator
) -> np.ndarray:
    """m draws from each row's Gaussian mixture; (B, K) padded parameters -> (B, m)."""
    cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    u = rng.random((len(weights), m))
    # The last component with weight, so that rounding in the cdf never picks a padded one.
    last = weights.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
    comp = np.minimum((u[:, :, None] > cdf[:, None, :]).sum(-1), last[:, None])
    mu, sd = np.take_along_axis(means, comp, 1), np.take_along_axis(sds, comp, 1)
    return mu + sd * rng.standard_normal((len(weights), m))


def _noise_sd(level: np.ndarray, config: GeneratorConfig) -> np.ndarray:
    return level if config.noise == "sd" else np.sqrt(level)


def _build(
    weights: np.ndarray,
    means: np.ndarray,
    sds: np.ndarray,
    mechanism_knots: list[np.ndarray],
    noise_level: np.ndarray,
    hetero_knots: list[np.ndarray],
    m: int,
    rng: np.random.Generator,
    config: GeneratorConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """The §3.1 pipeline for B pairs given their parameters: returns x, y of shape (B, m)."""
    x = _mixture_draws(weights, means, sds, m, rng)
    if (np.ptp(x, axis=1) == 0).any():
        raise ValueError("the cause is constant: give some mixture component a positive sd")
    x = _standardise(x)
    lo, hi = support(x)
    mechanism = partial(hermite_spline, slopes=config.slopes)
    fx = _standardise(_grouped_by_knots(mechanism, x, lo, hi, mechanism_knots))
    v = np.abs(_grouped_by_knots(smoothing_spline, x, lo, hi, hetero_knots))
    e = _noise_sd(noise_level, config)[:, None] * rng.standard_normal(x.shape)
    y = _standardise(fx + v * e)
    return x, y


def _check_params(p: PairParams) -> None:
    k = len(p.weights)
    if not (len(p.means) == len(p.sds) == k >= 1):
        raise ValueError("weights, means and sds must be non-empty and of equal length")
    if np.any(np.asarray(p.weights) < 0) or np.sum(p.weights) <= 0:
        raise ValueError("mixture weights must be non-negative with a positive sum")
    if np.any(np.asarray(p.sds) < 0):
        raise ValueError("mixture standard deviations must be non-negative")
    for name in ("mechanism_knots", "hetero_knots"):
        if len(getattr(p, name)) < 2:
            raise ValueError(f"{name} needs at least 2 values")
    if p.noise_level < 0:
        raise ValueError(f"noise_level must be non-negative, got {p.noise_level}")
    if p.n_points < 10:
        raise ValueError(f"n_points must be at least 10, got {p.n_points}")


def pair_from_params(
    params: PairParams, seed: int = 0, config: GeneratorConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One §3.1 pair (x, y), X → Y, both standardised, from explicit parameters.

    The Gaussian draws (mixture, noise) come from ``seed``, so a panel that moves one
    slider sees the same points move rather than a fresh sample.
    """
    _check_params(params)
    config = config or GeneratorConfig()
    x, y = _build(
        np.asarray(params.weights, float)[None],
        np.asarray(params.means, float)[None],
        np.asarray(params.sds, float)[None],
        [np.asarray(params.mechanism_knots, float)],
        np.array([float(params.noise_level)]),
        [np.asarray(params.hetero_knots, float)],
        params.n_points,
        np.random.default_rng(seed),
        config,
    )
    return x[0], y[0]


@dataclass(frozen=True)
class ParamDraws:
    """n draws of §3.1's parameters; mixtures are padded to MAX_COMPONENTS components.

    The mixture is kept as unit draws and scales (means = r · unit_means, sds =
    |s · unit_sds|) and as weights before the k-component cut, so that a panel can
    vary k, r and s with a slider and keep the rest of a draw.
    """

    components: np.ndarray  # (n,) k ~ RandomInteger[1, 5]
    mixture_scales: np.ndarray  # (2, n) r, s ~ U[0, mixture_scale]
    raw_weights: np.ndarray  # (n, 5) |N(0, 1)|; the first k are the mixture's weights
    unit_means: np.ndarray  # (n, 5) N(0, 1)
    unit_sds: np.ndarray  # (n, 5) N(0, 1)
    mechanism_knots: list[np.ndarray]  # d ~ RandomInteger(4, 5) values ~ N(0, 1) each
    noise_level: np.ndarray  # (n,) v ~ U[0, noise_max]
    hetero_knots: list[np.ndarray]  # d values ~ U[0, hetero_max] each

    @property
    def weights(self) -> np.ndarray:
        """(n, 5) mixture weights, zero beyond each pair's k components."""
        active = np.arange(MAX_COMPONENTS)[None, :] < self.components[:, None]
        weights = self.raw_weights * active
        weights[:, 0] = np.maximum(weights[:, 0], 1e-12)  # a mixture always has mass somewhere
        return weights

    @property
    def means(self) -> np.ndarray:
        return self.mixture_scales[0][:, None] * self.unit_means

    @property
    def sds(self) -> np.ndarray:
        return np.abs(self.mixture_scales[1][:, None] * self.unit_sds)


def draw_params(n: int, rng: np.random.Generator, config: GeneratorConfig) -> ParamDraws:
    """n draws of §3.1's parameters: the one copy of its distribution, which training
    (:func:`sample_causal`) and the playground panel both use."""
    if n < 1:
        raise ValueError(f"need n >= 1 draws, got n={n}")
    # The draws keep this order: the cached training pools depend on it.
    components = rng.integers(1, MAX_COMPONENTS + 1, n)
    mixture_scales = rng.uniform(0, config.mixture_scale, (2, n))
    raw_weights = np.abs(rng.standard_normal((n, MAX_COMPONENTS)))
    unit_means = rng.standard_normal((n, MAX_COMPONENTS))
    unit_sds = rng.standard_normal((n, MAX_COMPONENTS))
    d = rng.choice(KNOT_CHOICES, n)
    mechanism_knots = [rng.standard_normal(di) for di in d]
    noise_level = rng.uniform(0, config.noise_max, n)
    hetero_knots = [rng.uniform(0, config.hetero_max, di) for di in d]
    return ParamDraws(
        components,
        mixture_scales,
        raw_weights,
        unit_means,
        unit_sds,
        mechanism_knots,
        noise_level,
        hetero_knots,
    )


def pairs_from_draws(
    draws: ParamDraws, m: int, rng: np.random.Generator, config: GeneratorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (x, y) of shape (n, m), X → Y, that ``draws`` describe."""
    if m < 10:
        raise ValueError(f"need pairs of m >= 10 points, got m={m}")
    return _build(
        draws.weights,
        draws.means,
        draws.sds,
        draws.mechanism_knots,
        draws.noise_level,
        draws.hetero_knots,
        m,
        rng,
        config,
    )


def sample_causal(
    n: int, m: int, rng: np.random.Generator, config: GeneratorConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """n random §3.1 pairs with X → Y, as x, y arrays of shape (n, m), vectorised."""
    if n < 1 or m < 10:
        raise ValueError(f"need n >= 1 pairs of m >= 10 points, got n={n}, m={m}")
    config = config or GeneratorConfig()
    return pairs_from_draws(draw_params(n, rng, config), m, rng, config)


def sample_pairs(
    n: int,
    m: int,
    seed: int,
    config: GeneratorConfig | None = None,
    augment: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4 (and §4.2 when ``augment``): a labelled set of synthetic samples.

    Returns pairs (N, m, 2) float32 and labels (N,): n samples (x, y) with label 0
    (X → Y), the same n transposed to (y, x) with label 1, and, with ``augment``,
    n copies (x_σ(j), y_j) with x randomly permuted, label ½ (no causal link).
    """
    rng = np.random.default_rng(seed)
    x, y = sample_causal(n, m, rng, config)
    parts = [np.stack([x, y], -1), np.stack([y, x], -1)]
    labels = [np.zeros(n), np.ones(n)]
    if augment:
        perm = np.argsort(rng.random(x.shape), axis=1)
        parts.append(np.stack([np.take_along_axis(x, perm, 1), y], -1))
        labels.append(np.full(n, 0.5))
    pairs = torch.from_numpy(np.concatenate(parts).astype(np.float32))
    return pairs, torch.from_numpy(np.concatenate(labels).astype(np.float32))
