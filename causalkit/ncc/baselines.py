"""Classical cause-effect methods, measured on the same pairs as NCC (§3.3's comparison).

Every method takes two 1-D arrays a, b of equal length and returns a score whose sign
is the decision: positive means A → B, negative B → A (zero: undecided, counted wrong).
Written here rather than imported from ``cdt``, whose import is slow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import digamma
from threadpoolctl import threadpool_limits

Method = Callable[[np.ndarray, np.ndarray], float]


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if len(a) != len(b):
        raise ValueError(f"a and b must have equal length, got {len(a)} and {len(b)}")
    if len(a) < 10:
        raise ValueError(f"need at least 10 points, got {len(a)}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("a and b must not be constant")
    return a, b


def _minmax(a: np.ndarray) -> np.ndarray:
    """IGCI's uniform reference measure: rescale to [0, 1]."""
    return (a - a.min()) / np.ptp(a)


def _igci_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Ĉ_{X→Y} = mean log |Δy / Δx| over x-sorted neighbours with Δx, Δy ≠ 0."""
    order = np.argsort(x, kind="stable")
    dx, dy = np.diff(x[order]), np.diff(y[order])
    ok = (dx != 0) & (dy != 0)
    return float(np.mean(np.log(np.abs(dy[ok] / dx[ok])))) if ok.any() else 0.0


def _spacing_entropy(x: np.ndarray) -> float:
    """Ĥ(X) = ψ(m) − ψ(1) + mean log(x_{i+1} − x_i), the 1-spacing estimator (zeros skipped)."""
    gaps = np.diff(np.sort(x))
    gaps = gaps[gaps > 0]
    return float(digamma(len(x)) - digamma(1) + np.mean(np.log(gaps)))


def igci_slope(a: np.ndarray, b: np.ndarray) -> float:
    """IGCI, slope estimator, uniform reference (Daniušis et al., UAI 2010; Janzing et al.,
    Artificial Intelligence 2012). Score Ĉ_{B→A} − Ĉ_{A→B}: A → B when positive."""
    a, b = _check(a, b)
    x, y = _minmax(a), _minmax(b)
    return _igci_slope(y, x) - _igci_slope(x, y)


def igci_entropy(a: np.ndarray, b: np.ndarray) -> float:
    """IGCI, entropy estimator, uniform reference (Daniušis et al., 2010). Under the uniform
    reference Ĉ_{X→Y} = Ĥ(Y) − Ĥ(X); score Ĥ(A) − Ĥ(B): A → B when positive."""
    a, b = _check(a, b)
    return _spacing_entropy(_minmax(a)) - _spacing_entropy(_minmax(b))


def _poly_mse(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Mean squared residual of the least-squares polynomial of y on x (x in [0, 1])."""
    design = np.vander(x, degree + 1)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return float(np.mean((y - design @ coef) ** 2))


def reci(a: np.ndarray, b: np.ndarray, degree: int = 3) -> float:
    """RECI (Blöbaum, Janzing, Washio, Shimizu, Schölkopf, AISTATS 2018): after min-max
    scaling, the regression error of the effect on the cause is smaller. A cubic
    polynomial regression; score MSE(A | B) − MSE(B | A): A → B when positive."""
    a, b = _check(a, b)
    x, y = _minmax(a), _minmax(b)
    return _poly_mse(y, x, degree) - _poly_mse(x, y, degree)


def _median_gram(z: np.ndarray) -> np.ndarray:
    sq = (z[:, None] - z[None, :]) ** 2
    med = np.median(sq[np.triu_indices(len(z), 1)])
    return np.exp(-sq / (2 * med if med > 0 else 1.0))  # σ = median distance


def hsic_log_pvalue(u: np.ndarray, v: np.ndarray) -> float:
    """log p-value of the HSIC independence test, gamma approximation, Gaussian kernels with
    the median heuristic (Gretton, Fukumizu, Teo, Song, Schölkopf, Smola, NIPS 2008)."""
    m = len(u)
    k, ell = _median_gram(u), _median_gram(v)
    h = np.eye(m) - 1.0 / m
    kc, lc = h @ k @ h, h @ ell @ h
    statistic = np.sum(kc * lc) / m
    terms = (kc * lc / 6) ** 2
    var = (terms.sum() - np.trace(terms)) / (m * (m - 1))
    var *= 72 * (m - 4) * (m - 5) / (m * (m - 1) * (m - 2) * (m - 3))
    mu_k = (k.sum() - m) / (m * (m - 1))
    mu_l = (ell.sum() - m) / (m * (m - 1))
    mean = (1 + mu_k * mu_l - mu_k - mu_l) / m
    shape, scale = mean**2 / var, var * m / mean
    return float(stats.gamma.logsf(statistic, shape, scale=scale))


# ML-II grid for the GP of the ANM fit: RBF length-scales (on z-scored inputs) and
# noise-to-signal variance ratios. A grid over one eigendecomposition per length-scale
# replaces gradient-based hyperparameter search, which cost ~3 s per pair here.
GP_LENGTHSCALES = (0.1, 0.2, 0.5, 1.0, 2.0)
GP_NOISE_RATIOS = (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)


def gp_residuals(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y − E[f(x) | data] for GP regression with an RBF kernel, hyperparameters chosen by
    maximising the marginal likelihood over a grid (y z-scored, unit signal variance)."""
    sq = (x[:, None] - x[None, :]) ** 2
    best, residuals = -np.inf, y
    for ell in GP_LENGTHSCALES:
        lam, vec = np.linalg.eigh(np.exp(-sq / (2 * ell**2)))
        lam = np.clip(lam, 0, None)
        proj = vec.T @ y
        for ratio in GP_NOISE_RATIOS:
            evidence = -0.5 * np.sum(proj**2 / (lam + ratio)) - 0.5 * np.sum(np.log(lam + ratio))
            if evidence > best:
                # (K + sI)α = y, so y − Kα = sα.
                best, residuals = evidence, ratio * (vec @ (proj / (lam + ratio)))
    return residuals


def anm_hsic(a: np.ndarray, b: np.ndarray, max_points: int = 500, seed: int = 0) -> float:
    """ANM with an HSIC test (Hoyer, Janzing, Mooij, Peters, Schölkopf, NIPS 2009): fit a
    GP regression each way, test the residuals' independence of the input; the direction
    whose residuals look more independent wins. Score log p(A → B) − log p(B → A).

    GP fitting and the HSIC test are cubic and quadratic in m, so pairs longer than
    ``max_points`` are scored on a random subsample of that many points.
    """
    a, b = _check(a, b)
    if len(a) > max_points:
        keep = np.random.default_rng(seed).choice(len(a), max_points, replace=False)
        a, b = a[keep], b[keep]
    x, y = stats.zscore(a), stats.zscore(b)
    forward = hsic_log_pvalue(x, gp_residuals(x, y))
    backward = hsic_log_pvalue(y, gp_residuals(y, x))
    return forward - backward


BASELINES: dict[str, Method] = {
    "IGCI-slope": igci_slope,
    "IGCI-entropy": igci_entropy,
    "RECI": reci,
    "ANM-HSIC": anm_hsic,
}


@dataclass(frozen=True)
class BaselineResult:
    """A method's scores on a list of pairs (A → B expected) and its timing."""

    name: str
    scores: np.ndarray
    seconds_per_pair: float

    @property
    def accuracy(self) -> float:
        return float((self.scores > 0).mean())


def run_baselines(
    columns: Sequence[tuple[np.ndarray, np.ndarray]],
    methods: dict[str, Method] | None = None,
    anm_max_points: int = 500,
) -> dict[str, BaselineResult]:
    """Score every pair with every method, timing each method over the whole list."""
    methods = dict(methods or BASELINES)
    if "ANM-HSIC" in methods and methods["ANM-HSIC"] is anm_hsic:
        methods["ANM-HSIC"] = lambda a, b: anm_hsic(a, b, max_points=anm_max_points)
    results = {}
    # One BLAS thread: the matrices are at most a few hundred wide, and on a loaded 2-core
    # machine OpenBLAS's spinning worker threads stretched 99 ANM-HSIC pairs from ~30 s
    # to over 5 minutes.
    with threadpool_limits(1):
        for name, method in methods.items():
            start = time.perf_counter()
            scores = np.array([method(a, b) for a, b in columns])
            seconds = (time.perf_counter() - start) / max(len(columns), 1)
            results[name] = BaselineResult(name, scores, seconds)
    return results
