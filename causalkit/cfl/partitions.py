"""Exact observational and causal partitions of a finite visual-causation model.

Chalupka, Perona, Eberhardt, "Visual Causal Feature Learning", UAI 2015, §2 and Supp. A-B.

The model is the paper's Eq. (1) / Fig. 2 with finitely many values: a hidden H (K values)
generates an image I (N values), and a binary behaviour T depends on I and H, so H confounds
I and T. Everything here is computed exactly from the probability tables, no sampling:
Def. 1 (observational partition), Def. 2-4 (manipulation, causal partition, visual cause),
Def. 6 (spurious correlate), Theorem 5 (causal coarsening) and Theorem 7.1 (P(T|I) = P(T|C,S)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

Partition = tuple[frozenset[int], ...]
_NORM_ATOL = 1e-9  # rows are sums of floats, so "sums to 1" can only hold to rounding


def _probabilities(name: str, value: object, ndim: int) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim != ndim or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1], got {arr.tolist()}")
    arr.flags.writeable = False  # the dataclass is frozen; so are its tables
    return arr


@dataclass(frozen=True, eq=False)  # eq=False: == on numpy fields would be ambiguous
class FiniteModel:
    """P(T, I, H) = P(T | I, H) P(I | H) P(H) with H in {0..K-1}, I in {0..N-1}, T in {0, 1}."""

    p_h: np.ndarray  # (K,) P(H=h)
    p_i_given_h: np.ndarray  # (K, N) P(I=i | H=h), rows sum to 1
    p_t1_given_h_i: np.ndarray  # (K, N) P(T=1 | H=h, I=i)

    def __post_init__(self) -> None:
        p_h = _probabilities("p_h", self.p_h, 1)
        p_i = _probabilities("p_i_given_h", self.p_i_given_h, 2)
        p_t = _probabilities("p_t1_given_h_i", self.p_t1_given_h_i, 2)
        if p_i.shape[0] != p_h.shape[0]:
            raise ValueError(f"p_i_given_h needs one row per H value ({len(p_h)}), got {len(p_i)}")
        if p_t.shape != p_i.shape:
            raise ValueError(f"p_t1_given_h_i must have shape {p_i.shape} (K, N), got {p_t.shape}")
        if abs(p_h.sum() - 1) > _NORM_ATOL:
            raise ValueError(f"p_h must sum to 1, sums to {p_h.sum():.12g}")
        bad = np.flatnonzero(np.abs(p_i.sum(axis=1) - 1) > _NORM_ATOL)
        if bad.size:
            raise ValueError(f"rows {bad.tolist()} of p_i_given_h do not sum to 1")
        # Def. 1 conditions on I = i, which is undefined for an image that never occurs.
        unseen = np.flatnonzero(p_h @ p_i == 0)
        if unseen.size:
            raise ValueError(f"images {unseen.tolist()} have P(I=i) = 0: P(T | I=i) is undefined")
        for field, arr in (("p_h", p_h), ("p_i_given_h", p_i), ("p_t1_given_h_i", p_t)):
            object.__setattr__(self, field, arr)

    @classmethod
    def from_paper(
        cls,
        p_h0: float,
        p_i0_given_h: tuple[float, float],
        p_i1_given_h: tuple[float, float],
        p_t0_given_h_i: tuple[tuple[float, ...], tuple[float, ...]],
    ) -> FiniteModel:
        """Binary H, three-valued I, as the tables of Supplement B list them: P(H=0),
        P(I=0|H=h), P(I=1|H=h) for h = 0, 1, and P(T=0|H=h, I=i) as a 2x3 table."""
        p_i = [[a, b, 1 - a - b] for a, b in zip(p_i0_given_h, p_i1_given_h, strict=True)]
        return cls([p_h0, 1 - p_h0], p_i, 1 - np.asarray(p_t0_given_h_i, dtype=np.float64))


def observational_probs(model: FiniteModel) -> np.ndarray:
    """P(T=1 | I=i) for every image (Def. 1): Bayes through Eq. (1), P(h | i) ∝ P(i | h) P(h)."""
    joint_hi = model.p_h[:, None] * model.p_i_given_h
    return (joint_hi * model.p_t1_given_h_i).sum(axis=0) / joint_hi.sum(axis=0)


def causal_probs(model: FiniteModel) -> np.ndarray:
    """P(T=1 | man(I=i)) = Σ_h P(T=1 | i, h) P(h) (Def. 2): setting the pixels leaves H alone,
    so H keeps its prior instead of being updated by the image."""
    return model.p_h @ model.p_t1_given_h_i


def partition(values: np.ndarray, tol: float) -> Partition:
    """Group the indices of ``values`` whose values are equal within ``tol`` (Def. 1, 3).

    Single linkage on the sorted values: i and j share a cell iff the sorted values between
    them never jump by more than ``tol``, so a cell can span more than ``tol`` through a chain.
    ``tol=0`` means exact equality. Cells are ordered by their smallest index.
    """
    if not (np.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 1 or not np.all(np.isfinite(vals)):
        raise ValueError(f"values must be a 1-D array of finite numbers, got shape {vals.shape}")
    order = np.argsort(vals, kind="stable")
    cells: list[set[int]] = []
    for pos, idx in enumerate(order):
        if pos == 0 or vals[idx] - vals[order[pos - 1]] > tol:
            cells.append(set())
        cells[-1].add(int(idx))
    return tuple(sorted((frozenset(c) for c in cells), key=min))


def _check_same_set(a: Partition, b: Partition) -> None:
    for p in (a, b):
        if any(not cell for cell in p) or sum(map(len, p)) != len(frozenset().union(*p)):
            raise ValueError(f"{p} is not a partition: cells must be non-empty and disjoint")
    if frozenset().union(*a) != frozenset().union(*b):
        raise ValueError("the two partitions cover different sets")


def is_coarsening(coarse: Partition, fine: Partition) -> bool:
    """Supplement A, Def. 1: ``coarse`` coarsens ``fine`` (properly or not) iff every cell of
    ``fine`` lies inside some cell of ``coarse``."""
    _check_same_set(coarse, fine)
    return all(any(p <= q for q in coarse) for p in fine)


def relation(observational: Partition, causal: Partition) -> str:
    """How Πo and Πc relate. The CCT (Theorem 5) says almost every model gives "equal" or
    "causal coarsens observational"; the other two outcomes need finely tuned parameters."""
    if set(observational) == set(causal):
        return "equal"
    if is_coarsening(causal, observational):
        return "causal coarsens observational"
    if is_coarsening(observational, causal):
        return "observational coarsens causal"
    return "incompatible"


def partitions(model: FiniteModel, tol: float) -> tuple[Partition, Partition]:
    """(Πo, Πc): the observational (Def. 1) and causal (Def. 3) partitions of the images."""
    return partition(observational_probs(model), tol), partition(causal_probs(model), tol)


def visual_cause_and_spurious_correlate(
    model: FiniteModel, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Labels C(i) (Def. 4: index of i's causal class) and S(i) (Def. 6: index of i's
    observational class among those inside its causal class), both 0-based (the paper counts
    from 1). Raises ValueError unless Πo refines Πc, which §2.4 assumes."""
    obs, causal = partitions(model, tol)
    if not is_coarsening(causal, obs):
        raise ValueError(f"observational partition {obs} does not refine causal partition {causal}")
    n = model.p_i_given_h.shape[1]
    c_lab, s_lab = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for c, ccell in enumerate(causal):
        for s, ocell in enumerate(o for o in obs if o <= ccell):
            c_lab[list(ocell)], s_lab[list(ocell)] = c, s
    return c_lab, s_lab


def check_complete_description(model: FiniteModel, tol: float) -> float:
    """max_i |P(T=1 | I=i) - P(T=1 | C=C(i), S=S(i))| with the right side taken from the joint
    P(T, C, S) the model induces (Theorem 7, part 1). Exactly 0 up to rounding when the
    equalities are exact; with tol > 0 it is bounded by the spread of the merged cells."""
    c_lab, s_lab = visual_cause_and_spurious_correlate(model, tol)
    p_i = model.p_h @ model.p_i_given_h
    p_t1_and_i = (model.p_h[:, None] * model.p_i_given_h * model.p_t1_given_h_i).sum(axis=0)
    p_t1_given_i = observational_probs(model)
    worst = 0.0
    for cs in set(zip(c_lab.tolist(), s_lab.tolist(), strict=True)):
        members = (c_lab == cs[0]) & (s_lab == cs[1])
        p_t1_given_cs = p_t1_and_i[members].sum() / p_i[members].sum()
        worst = max(worst, float(np.abs(p_t1_given_i[members] - p_t1_given_cs).max()))
    return worst


class SupplementBTable(NamedTuple):
    """One table of Supplement B, Fig. 1, with the Πo/Πc relation its caption states."""

    name: str
    model: FiniteModel
    relation: str
    description: str


# Supplement B prints its parameters to 4 significant digits, so the coincidences the authors
# engineered (e.g. P(T|man(I=0)) = P(T|man(I=1))) hold only to about 1e-4: compare at this tol.
CCT_TOLERANCE = 1e-4

_PRIOR = dict(p_h0=0.4572, p_i0_given_h=(0.3426, 0.3255), p_i1_given_h=(0.1239, 0.5097))

# The text extraction of the paper lists the three tables in the order (third, first, second)
# relative to the caption. Computed at CCT_TOLERANCE, the extracted table with
# P(T=0|H=0,I=2) = 0.05 is the incompatible one (Πo = {0},{1,2}; Πc = {0,1},{2}); the one with
# 0.44 / 0.1582 and P(T=0|H=0,I=0) = 0.13 is the proper coarsening the caption lists first; the
# one with 0.123 / 0.883 / 0.321 / 0.0938 makes Πo coarsen Πc. We store the caption's order.
SUPPLEMENT_B: tuple[SupplementBTable, ...] = tuple(
    SupplementBTable(name, FiniteModel.from_paper(**_PRIOR, p_t0_given_h_i=t0), rel, text)
    for name, t0, rel, text in (
        (
            "table 1",
            ((0.13, 0.233, 0.44), (0.12, 0.0332, 0.1582)),
            "causal coarsens observational",
            "P(T|I=0) != P(T|I=1) but P(T|man(I=0)) = P(T|man(I=1)): agrees with the CCT",
        ),
        (
            "table 2",
            ((0.123, 0.883, 0.44), (0.321, 0.0938, 0.1582)),
            "observational coarsens causal",
            "P(T|I=0) = P(T|I=1) yet the manipulations differ: a measure-zero CCT violation",
        ),
        (
            "table 3",
            ((0.13, 0.233, 0.05), (0.12, 0.0332, 0.1141)),
            "incompatible",
            "Πo = {0},{1,2} and Πc = {0,1},{2}: neither coarsens the other (measure zero)",
        ),
    )
)


def supplement_b_ok() -> bool:
    """True iff each Supplement B table induces the relation the caption states for it."""
    return all(relation(*partitions(t.model, CCT_TOLERANCE)) == t.relation for t in SUPPLEMENT_B)
