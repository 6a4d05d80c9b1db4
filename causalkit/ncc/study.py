"""§4 of Lopez-Paz et al., "Discovering Causal Signals in Images" (CVPR 2017,
https://arxiv.org/abs/1605.08179), on the procedural scene world of :mod:`.scenes`.

Following §4.2-4.4: a small CNN's 512 pre-ReLU feature scores f and its category
log-odds c; for each (feature l, category k) a causal score from a scorer (NCC, or the
paper's sanity checks: the correlation and its absolute value) on the scatter
{(f_jl, c_jk)}; object-only and context-only blackouts (Fig. 5); the object- and
context-feature ratios of §4.3; and the Fig. 6 comparison of the top 1 % anticausal and
causal features, counted over categories with a binomial test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from scipy.stats import binomtest

from causalkit.core import cached, code_version, get_device, progress, seed_everything
from causalkit.ncc.model import SceneNet, check_pairs
from causalkit.ncc.scenes import (
    CATEGORIES,
    CAUSES,
    EFFECTS,
    ELEMENTS,
    Scenes,
    SceneWorld,
    box_masks,
    category_index,
    render_scenes,
)
from causalkit.ncc.train import train_scene_net

CODE_VERSION = code_version("causalkit.ncc")

# ------------------------------------------------------------------ §4.3, Fig. 5: blackouts


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-channel standardisation, as before the feature network (§4.1)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, S, S), got {tuple(images.shape)}")
    return (images - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def blackouts(normalised: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The object-only and context-only images x^o and x^c of §4.3 (Fig. 5).

    ``mask`` (N, S, S) marks the pixels inside the category-k boxes. x^o zeroes
    every pixel outside them, x^c every pixel inside. The zeroing is applied to
    the *normalised* images, so blacked-out pixels are true zeros for the network
    (the paper's Fig. 5 caption): the channel mean, not black, in colour terms.
    """
    if normalised.ndim != 4 or mask.shape != (normalised.shape[0], *normalised.shape[2:]):
        raise ValueError(
            f"expected images (N, C, S, S) and a mask (N, S, S) to match, "
            f"got {tuple(normalised.shape)} and {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be boolean, got {mask.dtype}")
    inside = mask[:, None]
    zero = torch.zeros((), dtype=normalised.dtype, device=normalised.device)
    return torch.where(inside, normalised, zero), torch.where(inside, zero, normalised)


def feature_ratios(
    features: torch.Tensor, object_only: torch.Tensor, context_only: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The object-feature and context-feature ratios of §4.3, per feature l.

        s^o_l = Σ_j |f^c_jl − f_jl| / Σ_j |f_jl|   (erase the object: how much moves)
        s^c_l = Σ_j |f^o_jl − f_jl| / Σ_j |f_jl|   (erase the context: how much moves)

    All three arguments are (m, L) feature scores of the same m images: the originals
    f_j, the object-only f^o_j and the context-only f^c_j. A feature that is zero on
    every image has no scale to compare with; it gets ratio 0 rather than a division
    by zero.
    """
    if (
        features.ndim != 2
        or object_only.shape != features.shape
        or context_only.shape != features.shape
    ):
        raise ValueError(
            "features, object_only and context_only must all have the same shape (m, L), got "
            f"{tuple(features.shape)}, {tuple(object_only.shape)}, {tuple(context_only.shape)}"
        )
    scale = features.abs().sum(0)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    object_ratio = torch.where(scale > 0, (context_only - features).abs().sum(0) / safe, 0.0)
    context_ratio = torch.where(scale > 0, (object_only - features).abs().sum(0) / safe, 0.0)
    return object_ratio, context_ratio


# ------------------------------------------------------------------ §4.2: scenes and features


def _check_fraction(fraction: float) -> None:
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"the top fraction must be in (0, 1], got {fraction!r}")


@dataclass(frozen=True)
class SceneStudyConfig:
    """One run of the §4 study on the scene world."""

    world: SceneWorld = field(default_factory=SceneWorld)
    n_train: int = 3000  # scenes the networks learn from (the paper's Pascal VOC role)
    n_analysis: int = 1500  # fresh scenes analysed (the paper's MSCOCO role)
    channels: tuple[int, ...] = (16, 32, 64)
    width: int = 512  # feature scores f; top 1 % of 512 = 5 features, as in the paper
    hidden: int = 512
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    scatter_points: int = 1000  # images per (f_l, c_k) scatter handed to the scorer
    top_fraction: float = 0.01
    wide_fraction: float = 0.2  # the paper's second reading (16 of 20 categories)

    def __post_init__(self) -> None:
        for name in ("n_train", "n_analysis", "width", "hidden", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scatter_points < 2:
            raise ValueError(f"scatter_points must be at least 2, got {self.scatter_points}")
        if not self.channels or self.world.size % 2 ** len(self.channels):
            raise ValueError(
                f"the image side {self.world.size} must be divisible by 2^len(channels) "
                f"= {2 ** len(self.channels)}"
            )
        _check_fraction(self.top_fraction)
        _check_fraction(self.wide_fraction)


# The training and analysis scenes are two SeedSequence streams of the run's seed, [seed, 0]
# and [seed, 1] (render_scenes hands the list to default_rng), so they never share draws.
_TRAINING_STREAM, _ANALYSIS_STREAM = 0, 1


def training_scenes(config: SceneStudyConfig, seed: int) -> Scenes:
    """The scenes the networks are trained on."""
    return render_scenes(config.world, config.n_train, [seed, _TRAINING_STREAM])


def analysis_scenes(config: SceneStudyConfig, seed: int) -> Scenes:
    """The fresh scenes §4 analyses (all of them; the study keeps those with an object)."""
    return render_scenes(config.world, config.n_analysis, [seed, _ANALYSIS_STREAM])


def _auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula."""
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = torch.empty(len(scores), dtype=torch.float64)
    ranks[scores.argsort(stable=True)] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


@torch.no_grad()
def extract(
    net: SceneNet, normalised: torch.Tensor, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature scores f (m, L) and log-odds c (m, K) on the CPU, computed on the device."""
    device = next(net.parameters()).device
    outputs = [
        net(normalised[i : i + batch_size].to(device))
        for i in range(0, len(normalised), batch_size)
    ]
    return torch.cat([f for f, _ in outputs]).cpu(), torch.cat([c for _, c in outputs]).cpu()


def build_scene_features(config: SceneStudyConfig, seed: int) -> dict:
    """Train the networks and compute every feature score §4.2-4.3 needs, in cacheable form.

    Returns the network weights and normalisation, its per-category test AUC, and for
    the analysis scenes that contain at least one object (§4.2: "images containing at
    least one instance"): f and c, the presence labels, the ground-truth element
    strengths, and per category k, for the scenes that contain k, the indices of
    those scenes and the feature scores of their object-only and context-only images.
    """
    seed_everything(seed)
    start = time.perf_counter()
    train = training_scenes(config, seed)
    mean = train.images.mean(dim=(0, 2, 3))
    std = train.images.std(dim=(0, 2, 3))
    net = SceneNet(config.world.size, config.channels, config.width, config.hidden, len(CATEGORIES))
    losses = train_scene_net(
        net.to(get_device()),
        normalise(train.images, mean, std),
        train.presence,
        epochs=config.epochs,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        seed=seed,
    )
    scenes = analysis_scenes(config, seed)
    normalised = normalise(scenes.images, mean, std)
    features, logodds = extract(net, normalised)
    auc = torch.tensor([_auc(logodds[:, k], scenes.presence[:, k]) for k in range(len(CATEGORIES))])
    keep = scenes.presence.any(dim=1)
    masks = box_masks(scenes.boxes, config.world.size)
    per_category = {}
    for k, name in enumerate(CATEGORIES):
        rows = torch.nonzero(scenes.presence[:, k]).squeeze(1)
        object_only, context_only = blackouts(normalised[rows], masks[rows, k])
        per_category[name] = {
            "rows": rows,  # indices into the analysis scenes
            "object_features": extract(net, object_only)[0],
            "context_features": extract(net, context_only)[0],
        }
    return {
        "net": {k: v.cpu() for k, v in net.state_dict().items()},
        "mean": mean,
        "std": std,
        "losses": torch.tensor(losses),
        "auc": auc,
        "keep": keep,
        "features": features,
        "logodds": logodds,
        "presence": scenes.presence,
        "strengths": scenes.element_strengths(),
        "per_category": per_category,
        "seconds": time.perf_counter() - start,
    }


def _scene_features(config: SceneStudyConfig, seed: int) -> dict:
    """:func:`build_scene_features`, trained once per config and seed (then read from the cache)."""
    return cached(
        "ncc-scenes",
        {"config": config, "seed": seed},
        lambda: build_scene_features(config, seed),
        version=CODE_VERSION,
    )


# ------------------------------------------------------------------ §4.2: causal scores

PairScorer = Callable[[torch.Tensor], torch.Tensor]  # pairs (B, m, 2) -> P(X → Y), (B,)


def _correlation(pairs: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each scatter; 0 where either variable is constant."""
    check_pairs(pairs)
    centred = pairs.double() - pairs.double().mean(dim=1, keepdim=True)
    cov = (centred[..., 0] * centred[..., 1]).sum(1)
    var = (centred**2).sum(1)
    denom = (var[:, 0] * var[:, 1]).sqrt()
    rho = torch.where(denom > 0, cov / denom.clamp_min(1e-300), 0.0)
    return rho.clamp(-1, 1).to(pairs.dtype)


def correlation_scorer(pairs: torch.Tensor) -> torch.Tensor:
    """The paper's first sanity check (§4.4): correlation in place of NCC.

    Maps Pearson's ρ in [-1, 1] to (1 + ρ) / 2 in [0, 1], so the "top causal" features
    are the most positively correlated with the category and the "top anticausal"
    ones the most negatively correlated.
    """
    return (1 + _correlation(pairs)) / 2


def abs_correlation_scorer(pairs: torch.Tensor) -> torch.Tensor:
    """The paper's second sanity check (§4.4): |ρ| in [0, 1] in place of NCC.

    The "top causal" features are the most strongly correlated with the category,
    either sign; the "top anticausal" ones are the least correlated.
    """
    return _correlation(pairs).abs()


def _standardise(values: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance along dim 0, as NCC's training scatters are (§3.1)."""
    centred = values - values.mean(0, keepdim=True)
    std = centred.std(0, keepdim=True)
    return torch.where(std > 0, centred / std.clamp_min(1e-12), 0.0)


def causal_scores(
    features: torch.Tensor,
    logodds: torch.Tensor,
    scorer: PairScorer,
    *,
    batch_pairs: int = 256,
    desc: str = "causal scores",
) -> torch.Tensor:
    """P(f_l → c_k) for every feature l and category k: the scorer on {(f_jl, c_jk)}_j (§4.2).

    ``features`` (m, L) and ``logodds`` (m, K) hold the same m images. Each variable is
    standardised before scoring. Returns (K, L) scores in [0, 1].
    """
    if features.ndim != 2 or logodds.ndim != 2 or len(features) != len(logodds):
        raise ValueError(
            f"features (m, L) and logodds (m, K) must share m, got "
            f"{tuple(features.shape)} and {tuple(logodds.shape)}"
        )
    f, c = _standardise(features.float()), _standardise(logodds.float())
    n_features = f.shape[1]
    jobs = [(k, s) for k in range(c.shape[1]) for s in range(0, n_features, batch_pairs)]
    scores = torch.empty(c.shape[1], n_features)
    for k, start in progress(jobs, desc=desc):
        x = f[:, start : start + batch_pairs].T  # (B, m)
        y = c[:, k].expand_as(x)
        pairs = torch.stack([x, y], dim=-1)
        out = scorer(pairs)
        if not isinstance(out, torch.Tensor) or out.shape != (len(x),):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the scorer must return a tensor of shape ({len(x)},), got {got}")
        out = out.detach().float().cpu()
        if not torch.all((out >= 0) & (out <= 1)):
            raise ValueError("the scorer must return probabilities P(X → Y) in [0, 1]")
        scores[k, start : start + len(x)] = out
    return scores


# ------------------------------------------------------------------ §4.4, Fig. 6


def top_features(scores: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the top ``fraction`` causal and anticausal features (§4.2).

    ``scores`` (L,) or (K, L) hold P(feature → category). The causal features are the
    round(fraction · L) highest scores (highest first), the anticausal features the
    same number of lowest (lowest first); at least one of each. Ties keep index order.
    """
    _check_fraction(fraction)
    if scores.ndim not in (1, 2) or scores.shape[-1] < 1:
        raise ValueError(f"scores must have shape (L,) or (K, L), got {tuple(scores.shape)}")
    n = max(1, round(fraction * scores.shape[-1]))
    ascending = torch.argsort(scores, dim=-1, stable=True)
    descending = torch.argsort(-scores, dim=-1, stable=True)
    return descending[..., :n], ascending[..., :n]


def binomial_p_value(count: int, n: int) -> float:
    """P(at least ``count`` of ``n`` categories agree by chance), a one-sided binomial, p = ½.

    The paper's 20 of 20 categories: 2^-20 ≈ 10^-6 (§4.4).
    """
    if not 0 <= count <= n or n < 1:
        raise ValueError(f"need 0 <= count <= n and n >= 1, got count={count}, n={n}")
    return float(binomtest(int(count), int(n), 0.5, alternative="greater").pvalue)


@dataclass(frozen=True)
class SignalSummary:
    """Fig. 6 for one top fraction: per category, ratios of the top causal/anticausal features.

    Per-category arrays have one entry per category (in CATEGORIES order); "std" is the
    standard deviation over the selected features (population form, so one feature
    gives 0). ``consistent[k]``: the anticausal features' mean object ratio exceeds the
    causal ones' (Hypothesis 2). ``context_consistent[k]``: likewise for the context
    ratio, which Hypothesis 2 does not expect to separate. The alignments use the
    known ground truth: the mean |correlation| over the selected features between the
    feature and the visible share of category k's causes (or effects) in the scene.
    """

    fraction: float
    n_features: int
    causal: torch.Tensor  # (K, n) feature indices
    anticausal: torch.Tensor  # (K, n)
    object_causal_mean: torch.Tensor  # (K,)
    object_causal_std: torch.Tensor
    object_anticausal_mean: torch.Tensor
    object_anticausal_std: torch.Tensor
    context_causal_mean: torch.Tensor
    context_causal_std: torch.Tensor
    context_anticausal_mean: torch.Tensor
    context_anticausal_std: torch.Tensor
    consistent: torch.Tensor  # (K,) bool
    count: int
    p_value: float
    context_consistent: torch.Tensor
    context_count: int
    context_p_value: float
    cause_alignment_causal: torch.Tensor  # (K,)
    cause_alignment_anticausal: torch.Tensor
    effect_alignment_causal: torch.Tensor
    effect_alignment_anticausal: torch.Tensor


def _gathered_stats(values: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    picked = values.gather(1, index)
    return picked.mean(1), picked.std(1, correction=0)


def summarise(
    scores: torch.Tensor,
    object_ratio: torch.Tensor,
    context_ratio: torch.Tensor,
    fraction: float,
    cause_alignment: torch.Tensor,
    effect_alignment: torch.Tensor,
) -> SignalSummary:
    """§4.4: compare the top-``fraction`` anticausal and causal features, category by category.

    Every argument but ``fraction`` is (K, L): causal scores, object and context
    ratios, and the ground-truth |correlation| of each feature with category k's
    causes and effects.
    """
    if (
        not (
            scores.shape
            == object_ratio.shape
            == context_ratio.shape
            == cause_alignment.shape
            == effect_alignment.shape
        )
        or scores.ndim != 2
    ):
        raise ValueError("scores, ratios and alignments must all have the same shape (K, L)")
    causal, anticausal = top_features(scores, fraction)
    o_c, o_c_sd = _gathered_stats(object_ratio, causal)
    o_a, o_a_sd = _gathered_stats(object_ratio, anticausal)
    c_c, c_c_sd = _gathered_stats(context_ratio, causal)
    c_a, c_a_sd = _gathered_stats(context_ratio, anticausal)
    consistent, context_consistent = o_a > o_c, c_a > c_c
    k = len(scores)
    return SignalSummary(
        fraction=float(fraction),
        n_features=causal.shape[1],
        causal=causal,
        anticausal=anticausal,
        object_causal_mean=o_c,
        object_causal_std=o_c_sd,
        object_anticausal_mean=o_a,
        object_anticausal_std=o_a_sd,
        context_causal_mean=c_c,
        context_causal_std=c_c_sd,
        context_anticausal_mean=c_a,
        context_anticausal_std=c_a_sd,
        consistent=consistent,
        count=int(consistent.sum()),
        p_value=binomial_p_value(int(consistent.sum()), k),
        context_consistent=context_consistent,
        context_count=int(context_consistent.sum()),
        context_p_value=binomial_p_value(int(context_consistent.sum()), k),
        cause_alignment_causal=cause_alignment.gather(1, causal).mean(1),
        cause_alignment_anticausal=cause_alignment.gather(1, anticausal).mean(1),
        effect_alignment_causal=effect_alignment.gather(1, causal).mean(1),
        effect_alignment_anticausal=effect_alignment.gather(1, anticausal).mean(1),
    )


def _abs_correlations(features: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """|corr(f_l, signal)| for every feature l: (L,)."""
    f, s = _standardise(features.double()), _standardise(signal.double()[:, None])
    return (f * s).mean(0).abs().float() * len(f) / max(len(f) - 1, 1)


def ground_truth_alignment(
    features: torch.Tensor, strengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, L) |correlation| of each feature with each category's causes, and with its effects.

    ``strengths`` (m, len(ELEMENTS)) is the visible share of each generative element;
    a category's cause (effect) signal is the summed share of its causes (effects).
    The paper cannot compute this (MSCOCO has no causal ground truth); here it says
    which features track what, by construction.
    """
    if strengths.ndim != 2 or strengths.shape != (len(features), len(ELEMENTS)):
        raise ValueError(
            f"strengths must have shape ({len(features)}, {len(ELEMENTS)}), "
            f"got {tuple(strengths.shape)}"
        )

    def share(names: tuple[str, ...]) -> torch.Tensor:
        return strengths[:, [ELEMENTS.index(n) for n in names]].sum(1)

    causes = torch.stack([_abs_correlations(features, share(CAUSES[k])) for k in CATEGORIES])
    effects = torch.stack([_abs_correlations(features, share(EFFECTS[k])) for k in CATEGORIES])
    return causes, effects


@dataclass(frozen=True)
class ImageSignalResult:
    """Everything §4.4 reports, on the scene world, for one scorer."""

    categories: tuple[str, ...]
    scores: torch.Tensor  # (K, L) P(f_l → c_k)
    object_ratio: torch.Tensor  # (K, L) s^o_l for category k
    context_ratio: torch.Tensor  # (K, L) s^c_l
    top: SignalSummary  # the paper's top 1 % (Fig. 6)
    wide: SignalSummary  # the paper's top 20 %
    classifier_auc: torch.Tensor  # (K,) the category classifier on the analysis scenes
    n_scatter: int  # images per scatter {(f_jl, c_jk)}
    n_category_images: torch.Tensor  # (K,) images behind each category's ratios
    seconds: float  # this scorer's study
    features_seconds: float  # training the networks and scoring the features, when it was done

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def image_signal_study(
    config: SceneStudyConfig, seed: int, scorer: PairScorer
) -> ImageSignalResult:
    """§4.2-4.4 on the scene world with a given scorer (NCC, or a correlation).

    The networks and all feature scores come from :func:`_scene_features`, so a
    second scorer costs only its own scoring. Choices where the paper is silent or
    the world differs:

    * Scatters (§4.2) use the analysis scenes with at least one object of any
      category, as the paper uses MSCOCO images with at least one Pascal object;
      ``config.scatter_points`` of them (a seeded subset) keep NCC affordable on a CPU.
    * Ratios (§4.3) of category k use the scenes that contain k: only they have
      category-k boxes to black out.
    """
    start = time.perf_counter()
    data = _scene_features(config, seed)
    keep = torch.nonzero(data["keep"]).squeeze(1)
    generator = torch.Generator().manual_seed(seed)
    chosen = keep[torch.randperm(len(keep), generator=generator)[: config.scatter_points]]
    scores = causal_scores(data["features"][chosen], data["logodds"][chosen], scorer)
    object_ratio, context_ratio = [], []
    for name in CATEGORIES:
        part = data["per_category"][name]
        o, c = feature_ratios(
            data["features"][part["rows"]], part["object_features"], part["context_features"]
        )
        object_ratio.append(o)
        context_ratio.append(c)
    object_ratio, context_ratio = torch.stack(object_ratio), torch.stack(context_ratio)
    causes, effects = ground_truth_alignment(data["features"][keep], data["strengths"][keep])
    return ImageSignalResult(
        categories=CATEGORIES,
        scores=scores,
        object_ratio=object_ratio,
        context_ratio=context_ratio,
        top=summarise(scores, object_ratio, context_ratio, config.top_fraction, causes, effects),
        wide=summarise(scores, object_ratio, context_ratio, config.wide_fraction, causes, effects),
        classifier_auc=data["auc"],
        n_scatter=len(chosen),
        n_category_images=torch.tensor([len(data["per_category"][k]["rows"]) for k in CATEGORIES]),
        seconds=time.perf_counter() - start,
        features_seconds=float(data["seconds"]),
    )


def blackout_gallery(config: SceneStudyConfig, seed: int, category: str, n: int = 4) -> dict:
    """Fig. 5 on the scene world: ``n`` analysis scenes with ``category``, and their blackouts.

    Returns display images in [0, 1], (n, 3, S, S): "original", "object_only" and
    "context_only", plus the (n, S, S) box "mask" and the scenes' "rows". As in the
    paper's figure, blacked-out pixels are shown black; the network sees them as
    zeros after normalisation (see :func:`blackouts`).
    """
    k = category_index(category)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    scenes = analysis_scenes(config, seed)
    rows = torch.nonzero(scenes.presence[:, k]).squeeze(1)[:n]
    images = scenes.images[rows]
    mask = box_masks(scenes.boxes[rows], config.world.size)[:, k]
    object_only, context_only = blackouts(images, mask)
    return {
        "original": images,
        "object_only": object_only,
        "context_only": context_only,
        "mask": mask,
        "rows": rows,
    }
