"""The ovals experiment of §5.1 / App. E end to end: three VAEs trained, cached and measured.

App. E trains "our causal-prior VAE and two isotropic-prior VAEs for comparison, one with a
lower β and one with higher β" on the 76,800 oval images, with "the Adagrad optimizer ... with
learning rate 0.003 on batches of 100 samples, until convergence". The three kinds here:

* ``"beta1"``: :class:`OvalVAE` with β = 1, the low-β VAE of Fig. 1-3;
* ``"beta4"``: :class:`OvalVAE` with β = 4, the high-β VAE;
* ``"causal"``: :class:`CausalOvalVAE`, the fixed parabolic prior z_1 = z_0² + n_1 (§5.1).

:func:`train_oval_model` trains one of them (cached per config, kind and seed);
:func:`latent_response` turns Fig. 2 ("latent response to the object's position") into
numbers: how strongly each latent answers the oval's horizontal position x, its offset from
the parabola n_y = y - x², and the nuisance factors scale and rotation.

What the presets reach, measured (seed 0, |r| with x / |r| with the offset / nuisance η):
quick β = 1 0.73 / 0.56 / 0.28, β = 4 0.64 / 0.34 / 0.30, causal 0.70 / 0.42 / 0.25; paper
β = 1 0.74 / 0.51 / 0.20, β = 4 0.69 / 0.31 / 0.13, causal 0.78 / 0.22 / 0.49. The paper's
picture (the causal prior's latents follow x and the offset, the β-VAEs entangle them) is not
reproduced: the causal model tends to put the vertical position into the cause latent z_0, and
even its best runs encode x along a folded, non-monotone path. Tried on the quick grid without
reaching |r| 0.9 / 0.8: 8 restarts (and keeping the lowest loss: it is not the right layout),
KL warm-up over 20-40 epochs, large initial prior noise, learnable mechanism coefficients,
4-512 pivots, the L2 likelihood, 200 epochs, and re-assigning which latent is the cause by
the KL during training. On hand-built codes the objective does prefer z_0 = x, z_1 = y, so the
optimum is right and training does not find it. Timings are at :data:`PRESETS`.

:func:`prior_fit` measures one reason: §4.4's local Gaussians are tangents of the parabola,
tangents lie below it, so the closest one charges a posterior under the parabola little. The
paper preset's posterior means lie there (98 % of images more than 2 σ_1 below) and the loss's
KL is 9.9 nats against 83 to the SEM itself. Choosing the pivot nearest the posterior in z_0
closes that leak (3 %, 9.4 against 9.8 nats, quick grid) but did not reach the targets either:
quick 0.51 / 0.50 / 0.15 (seed 1 0.72 / 0.44 / 0.37); with unit noise variances held fixed,
App. E's grid and 15 Adam epochs 0.66 / 0.40 / 0.47 (60 epochs: 0.63 / 0.38 / 0.49), where x
lands in z_0 but y in a free latent. The limit of that rule, the pivot at the posterior mean,
is ``OvalsConfig.pivot = "posterior-mean"`` (quick preset: 6 % of images under the parabola,
0.51 / 0.49 / 0.64). On an H100, Adam runs on App. E's grid put x and the offset into the free
latents z_2..z_4 in three of four variants. The notebook's closing section lists these runs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from causalkit.core import (
    cached,
    choose_preset,
    flush_denormal,
    get_device,
    progress,
    seed_everything,
)
from causalkit.core.validate import is_int, is_number
from causalkit.semvae.models import (
    OVAL_LATENTS,
    CausalOvalVAE,
    OvalVAE,
    PivotRule,
    QuadraticSEM,
    Reconstruction,
    VAELoss,
    beta_vae_loss,
    causal_vae_loss,
    check_pivot_rule,
    monte_carlo_prior_kl,
    prior_kl,
)
from causalkit.semvae.ovals import (
    OVAL_FACTORS,
    QUICK_OVAL_GRID,
    OvalDataset,
    OvalGrid,
    oval_dataset,
)

CODE_VERSION = "2"  # 2: results record the pivot rule
OvalKind = Literal["beta1", "beta4", "causal"]
KINDS: tuple[OvalKind, ...] = ("beta1", "beta4", "causal")
# β of the two isotropic-prior baselines (App. E: "one with a lower β and one with higher β";
# Fig. 1-3 label them β = 1 and β = 4).
BETAS: dict[str, float] = {"beta1": 1.0, "beta4": 4.0}
KIND_LABELS: dict[str, str] = {
    "beta1": "VAE (β = 1)",
    "beta4": "VAE (β = 4)",
    "causal": "causal-prior VAE",
}
Optimizer = Literal["adagrad", "adam"]
# Images encoded per forward pass when measuring: 2,048 x 4,096 float32 inputs are 32 MB.
_ENCODE_CHUNK = 2048
_SCALE, _ROTATION, _X, _OFFSET = (
    OVAL_FACTORS.index(name) for name in ("scale", "rotation", "x", "offset")
)


def _check_seed(seed: object) -> int:
    if not (is_int(seed, 0) and seed < 2**32):
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    return int(seed)


def _check_kind(kind: object) -> OvalKind:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]


@dataclass(frozen=True)
class OvalsConfig:
    """Everything that decides a trained oval VAE (§5.1, App. E); hashed into its cache key.

    ``grid`` is the image set (App. E's 6 x 40 x 32 x 10 by default), trained on in full for
    ``epochs`` shuffled passes in batches of ``batch_size``. ``optimizer``/``lr`` default to
    App. E's Adagrad at 0.003. ``num_pivots`` is how many ancestral pivots the causal prior
    draws per loss evaluation (§4.4; the paper gives no number); ``pivot`` is where its KL
    linearises the SEM, ``"closest"`` (§4.4 as written) or ``"posterior-mean"``
    (:func:`~causalkit.semvae.models.posterior_pivot_kl`). ``reconstruction`` is
    ``"bernoulli"`` (binary pixels' log-likelihood) or ``"l2"`` (§5.1's "L2 loss").
    """

    grid: OvalGrid = field(default_factory=OvalGrid)
    epochs: int = 30
    batch_size: int = 100  # App. E
    optimizer: Optimizer = "adagrad"  # App. E
    lr: float = 0.003  # App. E
    hidden: int = 64  # App. E: "64 hidden ReLU units in each layer"
    latents: int = OVAL_LATENTS  # App. E: "there are 5 latent variables z"
    num_pivots: int = 64
    pivot: PivotRule = "closest"
    reconstruction: Reconstruction = "bernoulli"
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.grid, OvalGrid):
            raise ValueError(f"grid must be an OvalGrid, got {type(self.grid).__name__}")
        for name in ("epochs", "batch_size", "hidden", "num_pivots"):
            if not is_int(getattr(self, name), 1):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not is_int(self.latents, 2):
            raise ValueError(
                f"latents must be an int ≥ 2 (the cause x and its effect y), got {self.latents!r}"
            )
        if self.batch_size > len(self.grid):
            raise ValueError(
                f"batch_size ({self.batch_size}) must not exceed the {len(self.grid)} images "
                "of the grid"
            )
        if self.optimizer not in ("adagrad", "adam"):
            raise ValueError(f"optimizer must be 'adagrad' or 'adam', got {self.optimizer!r}")
        lr = self.lr
        if not (is_number(lr) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite positive number, got {lr!r}")
        check_pivot_rule(self.pivot)
        if self.reconstruction not in ("bernoulli", "l2"):
            raise ValueError(
                f"reconstruction must be 'bernoulli' or 'l2', got {self.reconstruction!r}"
            )
        _check_seed(self.seed)

    @property
    def iterations_per_epoch(self) -> int:
        return math.ceil(len(self.grid) / self.batch_size)


PRESETS: dict[str, OvalsConfig] = {
    # QUICK_OVAL_GRID (2,400 images, 24 batches an epoch), 80 epochs with Adam at 1e-3 and 16
    # pivots: a deviation from App. E, measured to be needed. With Adagrad at 0.003 every
    # model sat on the mean-image plateau (loss ≈ 291, only scale encoded) for more than
    # 3,600 iterations; Adagrad at 0.03 diverged (its first step moves every weight by lr).
    # 16 pivots instead of 64 cut the causal model's time by a third (21 s vs 33 s) with the
    # same final loss. Measured on one CPU thread: 15 + 15 + 21 s for β = 1, β = 4, causal.
    "quick": OvalsConfig(grid=QUICK_OVAL_GRID, epochs=80, optimizer="adam", lr=1e-3, num_pivots=16),
    # App. E as written: the full 76,800-image grid, Adagrad at 0.003, batches of 100. "Until
    # convergence" does not fit a CPU: 30 epochs (23,040 iterations) took 173 + 166 + 357 s
    # (β = 1, β = 4, causal with 64 pivots), 11.6 minutes on one CPU thread. Raise ``epochs``
    # on a GPU.
    "paper": OvalsConfig(epochs=30),
}
"""Named configs. What they reach (:func:`latent_response`, seed 0, one CPU thread):

======  ======  ======  ======  =======================================================
preset  kind    x |r|   offset  nuisance η
======  ======  ======  ======  =======================================================
quick   β = 1   0.73    0.56    0.28
quick   β = 4   0.64    0.34    0.30
quick   causal  0.70    0.42    0.25
paper   β = 1   0.74    0.51    0.20
paper   β = 4   0.69    0.31    0.13
paper   causal  0.78    0.22    0.49
======  ======  ======  ======  =======================================================

The causal-prior VAE does *not* reproduce Fig. 2's clean picture at these budgets (the aim:
x |r| ≥ 0.9, offset |r| ≥ 0.8, nuisance ≤ 0.2). The first position factor to emerge is the
vertical position y (the parabola's top-corners-versus-bottom-middle contrast carries the most
pixel variance), and it lands in the cause z_0, with z_1 ≈ z_0² adding little; x then goes to a
free latent. Variants tried on the quick grid (Adam 1e-3 unless said): L2 reconstruction; 4,
16, 64 and 512 pivots; seeds 0-2; Adagrad at 0.01 for 150 epochs; and the paper preset above.
In none did the best x latent reach |r| 0.8 or any latent's noise reach |r| 0.6 with the offset.
"""


def ovals_config(preset: str) -> OvalsConfig:
    """The config of a named preset: ``"quick"`` (about a minute on a CPU) or ``"paper"``."""
    return choose_preset(PRESETS, preset)


def build_oval_model(
    kind: str,
    latents: int = OVAL_LATENTS,
    hidden: int = 64,
    num_pivots: int = 64,
    pivot: PivotRule = "closest",
) -> OvalVAE | CausalOvalVAE:
    """A fresh, untrained model of ``kind``: ``"beta1"``/``"beta4"`` (:class:`OvalVAE`) or
    ``"causal"`` (:class:`CausalOvalVAE`, fixed parabola z_1 = z_0² + n_1, §5.1, its KL
    linearised as ``pivot`` says; the β-VAEs have no pivots)."""
    if _check_kind(kind) == "causal":
        return CausalOvalVAE(latents, hidden, num_pivots=num_pivots, pivot=pivot)
    return OvalVAE(latents, hidden)


def _loss(
    kind: OvalKind,
    model: OvalVAE | CausalOvalVAE,
    x: Tensor,
    reconstruction: Reconstruction,
    generator: torch.Generator,
) -> VAELoss:
    if kind == "causal":
        return causal_vae_loss(x, model, reconstruction=reconstruction, generator=generator)
    return beta_vae_loss(x, model, BETAS[kind], reconstruction=reconstruction, generator=generator)


def train_oval_model(config: OvalsConfig, kind: str, seed: int | None = None) -> dict[str, object]:
    """Train one oval VAE of App. E, or load it from the cache; ``seed`` defaults to the config's.

    The loss is the negative ELBO of eq. 3: for ``"beta1"``/``"beta4"`` with β times the KL to
    N(0, I) (:func:`beta_vae_loss`), for ``"causal"`` with the KL to the closest local
    Gaussian of the parabolic SEM at ancestral pivots (§4.4, :func:`causal_vae_loss`).
    ``config.epochs`` shuffled passes over every image of ``config.grid``. One seed fixes the
    initialisation, the batch order, the posterior samples z ~ q and the pivots, so a seed
    gives the same weights on the CPU. Runs on :func:`get_device` (CUDA when present).

    Returns ``{"kind", "state"`` (CPU state dict), ``"curve"`` (``{"total",
    "reconstruction", "kl"}``, per-epoch means of the batch terms as float64 tensors),
    ``"train_seconds", "iterations", "device", "latents", "hidden", "num_pivots", "pivot"}``;
    rebuild the model with :func:`load_oval_model`. A NaN loss stops training with a
    ``FloatingPointError``.
    """
    if not isinstance(config, OvalsConfig):
        raise ValueError(f"config must be an OvalsConfig, got {type(config).__name__}")
    kind = _check_kind(kind)
    seed = _check_seed(config.seed if seed is None else seed)
    key = {"config": config, "kind": kind, "seed": seed}

    def build() -> dict[str, object]:
        device = get_device()
        seed_everything(seed)
        model = build_oval_model(
            kind, config.latents, config.hidden, config.num_pivots, config.pivot
        )
        model.to(device).train()
        images = oval_dataset(config.grid).images.to(device)  # bool: 315 MB for App. E's grid
        optimiser_class = torch.optim.Adagrad if config.optimizer == "adagrad" else torch.optim.Adam
        optimiser = optimiser_class(model.parameters(), lr=config.lr)
        # Two random streams: batch order on the CPU (the same batches on any device), and z ~ q
        # plus the pivots on the device the loss runs on.
        order = torch.Generator().manual_seed(seed)
        draws = torch.Generator(device=device).manual_seed(seed + 1)
        n = len(images)
        curve: dict[str, list[float]] = {"total": [], "reconstruction": [], "kl": []}
        start = time.perf_counter()
        # Denormals appear as the KL of unused latents goes to zero; x86 is slow on them.
        with flush_denormal():
            bar = progress(range(config.epochs), desc=f"ovals: {KIND_LABELS[kind]}")
            for epoch in bar:
                sums = torch.zeros(3, dtype=torch.float64, device=device)
                permutation = torch.randperm(n, generator=order).to(device)
                for begin in range(0, n, config.batch_size):
                    batch = images[permutation[begin : begin + config.batch_size]].float()
                    terms = _loss(kind, model, batch, config.reconstruction, draws)
                    optimiser.zero_grad(set_to_none=True)
                    terms.loss.backward()
                    optimiser.step()
                    # Summed on the device, read once an epoch: no sync per batch on a GPU.
                    parts = (terms.loss, terms.reconstruction.mean(), terms.kl.mean())
                    sums += torch.stack(parts).detach().double() * len(batch)
                means = (sums / n).tolist()
                if not all(math.isfinite(v) for v in means):
                    raise FloatingPointError(
                        f"the {KIND_LABELS[kind]} loss turned NaN or infinite in epoch "
                        f"{epoch + 1}; lower lr (now {config.lr}) or check the data"
                    )
                for name, value in zip(curve, means, strict=True):
                    curve[name].append(value)
                bar.set_postfix(loss=f"{means[0]:.1f}", kl=f"{means[2]:.2f}")
        return {
            "kind": kind,
            "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "curve": {k: torch.tensor(v, dtype=torch.float64) for k, v in curve.items()},
            "train_seconds": time.perf_counter() - start,
            "iterations": config.epochs * config.iterations_per_epoch,
            "device": str(device),
            "latents": config.latents,
            "hidden": config.hidden,
            "num_pivots": config.num_pivots,
            "pivot": config.pivot,
        }

    return cached("semvae-ovals", key, build, version=CODE_VERSION)


def load_oval_model(result: dict[str, object], kind: str | None = None) -> OvalVAE | CausalOvalVAE:
    """The model of a :func:`train_oval_model` result, on the CPU and in eval mode.

    ``kind``, if given, must match the result's (a guard against mixing up the three).
    """
    needed = ("kind", "state", "latents", "hidden", "num_pivots", "pivot")
    if not isinstance(result, dict) or any(k not in result for k in needed):
        raise ValueError(f"result must be a dict from train_oval_model with keys {needed}")
    stored = _check_kind(result["kind"])
    if kind is not None and _check_kind(kind) != stored:
        raise ValueError(f"result holds a {stored!r} model, not {kind!r}")
    model = build_oval_model(
        stored, result["latents"], result["hidden"], result["num_pivots"], result["pivot"]
    )
    model.load_state_dict(result["state"])
    return model.eval()


# --------------------------------------------------------------------------- Fig. 2, measured


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def encode_means(model: OvalVAE | CausalOvalVAE, images: Tensor) -> Tensor:
    """Posterior means μ_q(x) of eq. 4 for (N, 1, 64, 64) images, as (N, d) float64 on the CPU."""
    if not isinstance(model, OvalVAE | CausalOvalVAE):
        raise ValueError(f"model must be an OvalVAE or CausalOvalVAE, got {type(model).__name__}")
    device = _model_device(model)
    chunks = []
    with torch.no_grad():
        for begin in range(0, len(images), _ENCODE_CHUNK):
            batch = images[begin : begin + _ENCODE_CHUNK].to(device).float()
            chunks.append(model.encode(batch)[0].double().cpu())
    return torch.cat(chunks)


def latent_noise(model: OvalVAE | CausalOvalVAE, z: Tensor) -> Tensor:
    """The SEM noise n_j = z_j - f_j(z_pa(j)) of latents z (eq. 5 solved for n), (N, d).

    For the causal prior n_1 = z_1 - z_0² is the offset from the parabola that §5.1's Fig. 3
    discussion finds n_1 to express; every other n_j is z_j. A β-VAE's prior has no edges
    (§4.1), so there n = z.
    """
    if isinstance(model, CausalOvalVAE):
        dtype = model.decoder[0].weight.dtype
        with torch.no_grad():
            structural = model.sem.mechanism(z.to(_model_device(model), dtype))
        return z - structural.to(device=z.device, dtype=z.dtype)
    if isinstance(model, OvalVAE):
        return z.clone()
    raise ValueError(f"model must be an OvalVAE or CausalOvalVAE, got {type(model).__name__}")


def noise_std(model: OvalVAE | CausalOvalVAE) -> Tensor:
    """σ_j of each latent's noise, (d,) on the CPU: learned for the causal prior, 1 for N(0, I)."""
    if isinstance(model, CausalOvalVAE):
        return model.sem.noise_var.detach().sqrt().cpu()
    if isinstance(model, OvalVAE):
        return torch.ones(model.latent_dim)
    raise ValueError(f"model must be an OvalVAE or CausalOvalVAE, got {type(model).__name__}")


def abs_correlation(values: Tensor, target: Tensor) -> Tensor:
    """|Pearson r| of each column of ``values`` (N, d) with ``target`` (N,); 0 for a constant."""
    values = values - values.mean(0)
    target = target - target.mean()
    norms = values.norm(dim=0) * target.norm()
    r = (values * target[:, None]).sum(0) / norms.clamp(min=torch.finfo(values.dtype).tiny)
    return torch.where(norms > 0, r.abs(), torch.zeros_like(r)).clamp(max=1.0)


def correlation_ratio(values: Tensor, groups: Tensor) -> Tensor:
    """η of each column of ``values`` (N, d) given a grouping (N,): sqrt(SS_between / SS_total).

    η is 1 when a column is a function of the group alone, 0 when every group has the same
    mean. Unlike Pearson r it needs no order or linearity, which is why it measures the
    response to rotation: the angles are cyclic and r and r + π draw the same oval. 0 for a
    constant column.
    """
    _, index = torch.unique(groups, return_inverse=True)
    k = int(index.max()) + 1
    mean = values.mean(0)
    sums = torch.zeros(k, values.shape[1], dtype=values.dtype).index_add_(0, index, values)
    counts = torch.bincount(index, minlength=k).to(values.dtype)[:, None]
    between = (counts * (sums / counts - mean).square()).sum(0)
    total = (values - mean).square().sum(0)
    ratio = between / total.clamp(min=torch.finfo(values.dtype).tiny)
    return torch.where(total > 0, ratio.clamp(0.0, 1.0).sqrt(), torch.zeros_like(ratio))


@dataclass(frozen=True)
class LatentResponse:
    """Fig. 2 as numbers: how each latent's noise n_j answers the factors of the ovals.

    Per-latent (d,) float64 tensors: ``x`` and ``offset`` are |Pearson r| of n_j with the
    horizontal position x and with the offset n_y = y - x²; ``y`` is |r| of the latent z_j
    itself with the vertical position y = x² + n_y (Fig. 2's vertical response); ``scale``
    and ``rotation`` are correlation ratios η of n_j given the discrete scale and rotation
    levels, and ``nuisance`` their maximum.

    The summary: ``x_latent`` is the latent most correlated with x, ``x_corr`` its |r|;
    ``offset_latent`` the *other* latent most correlated with the offset, ``offset_corr``
    its |r|; ``nuisance_corr`` the larger nuisance response of those two latents.
    """

    x: Tensor
    offset: Tensor
    y: Tensor
    scale: Tensor
    rotation: Tensor
    nuisance: Tensor
    x_latent: int
    offset_latent: int
    x_corr: float
    offset_corr: float
    nuisance_corr: float

    def summary(self) -> dict[str, float | int]:
        """The headline numbers, plain Python, for recording."""
        return {
            "x_corr": self.x_corr,
            "offset_corr": self.offset_corr,
            "nuisance_corr": self.nuisance_corr,
            "x_latent": self.x_latent,
            "offset_latent": self.offset_latent,
        }


def response_from_codes(
    noise: Tensor, factors: Tensor, latents: Tensor | None = None
) -> LatentResponse:
    """:class:`LatentResponse` from per-image codes: the pure half of :func:`latent_response`.

    ``noise`` is (N, d) with d ≥ 2, the values the correlations are taken on (the SEM noise
    n, see :func:`latent_noise`); ``factors`` (N, 4) in the columns of
    :data:`~causalkit.semvae.ovals.OVAL_FACTORS`; ``latents`` (N, d), the latents z for the
    ``y`` response, defaults to ``noise`` (right for an edgeless prior).
    """
    noise = torch.as_tensor(noise, dtype=torch.float64)
    factors = torch.as_tensor(factors, dtype=torch.float64)
    latents = noise if latents is None else torch.as_tensor(latents, dtype=torch.float64)
    if noise.dim() != 2 or noise.shape[0] < 2 or noise.shape[1] < 2:
        raise ValueError(
            f"noise must have shape (N, d) with N ≥ 2 images and d ≥ 2 latents (x and the "
            f"offset need two different ones), got {tuple(noise.shape)}"
        )
    if factors.shape != (noise.shape[0], len(OVAL_FACTORS)):
        raise ValueError(
            f"factors must have shape ({noise.shape[0]}, {len(OVAL_FACTORS)}), one row of "
            f"{OVAL_FACTORS} per image, got {tuple(factors.shape)}"
        )
    if latents.shape != noise.shape:
        raise ValueError(
            f"latents must have noise's shape {tuple(noise.shape)}, got {tuple(latents.shape)}"
        )
    for name, tensor in (("noise", noise), ("factors", factors), ("latents", latents)):
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{name} must be finite, got NaN or infinite values")
    x, offset = factors[:, _X], factors[:, _OFFSET]
    x_r = abs_correlation(noise, x)
    offset_r = abs_correlation(noise, offset)
    scale = correlation_ratio(noise, factors[:, _SCALE])
    rotation = correlation_ratio(noise, factors[:, _ROTATION])
    nuisance = torch.maximum(scale, rotation)
    x_latent = int(x_r.argmax())
    others = offset_r.clone()
    others[x_latent] = -1.0  # a different latent must carry the offset
    offset_latent = int(others.argmax())
    return LatentResponse(
        x=x_r,
        offset=offset_r,
        y=abs_correlation(latents, x.square() + offset),
        scale=scale,
        rotation=rotation,
        nuisance=nuisance,
        x_latent=x_latent,
        offset_latent=offset_latent,
        x_corr=float(x_r[x_latent]),
        offset_corr=float(offset_r[offset_latent]),
        nuisance_corr=float(nuisance[[x_latent, offset_latent]].max()),
    )


def latent_response(model: OvalVAE | CausalOvalVAE, dataset: OvalDataset) -> LatentResponse:
    """Fig. 2 measured: encode every image (posterior mean) and correlate with the factors.

    The correlations are taken on the latent noise n = z - f(z) (:func:`latent_noise`): the
    noise variables are what the prior makes independent, what Fig. 3 traverses, and for the
    causal prior n_1 = z_1 - z_0² is what should answer the offset from the parabola. A
    latent that encodes y itself cannot: on App. E's grid |r(y, n_y)| ≈ 0.47 at best, as
    most of y's variance is x². For a β-VAE n = z, so nothing changes there. Nuisance uses η
    (:func:`correlation_ratio`): rotation is cyclic and symmetric, a linear r would miss it.
    On a full factorial grid a latent that depends on position only has η = 0 for scale and
    rotation exactly, since every position is seen with every scale and rotation.
    """
    if not isinstance(dataset, OvalDataset):
        raise ValueError(f"dataset must be an OvalDataset, got {type(dataset).__name__}")
    z = encode_means(model, dataset.images)
    return response_from_codes(latent_noise(model, z), dataset.factors, z)


@dataclass(frozen=True)
class PriorFit:
    """How well the causal-prior VAE's posterior meets its SEM prior (see :func:`prior_fit`).

    ``below_parabola``: share of images whose posterior mean has n_1 = z_1 - z_0² below
    -2 σ_1, where the SEM's own density is under e⁻² of its peak. ``loss_kl``: the KL the
    training loss uses (:func:`~causalkit.semvae.models.prior_kl`: the closest local Gaussian,
    or the one at the posterior mean if the model was built so), mean over images.
    ``sem_kl``: the KL to the non-linear SEM itself by Monte Carlo
    (:func:`monte_carlo_prior_kl`), mean over the same images.
    """

    below_parabola: float
    loss_kl: float
    sem_kl: float


def prior_fit(
    model: CausalOvalVAE, dataset: OvalDataset, n: int = 500, samples: int = 512, seed: int = 0
) -> PriorFit:
    """Measure the gap between the loss's KL and the KL to the SEM on ``n`` random images.

    §4.4's prior is a set of local Gaussians, one per ancestral pivot, each the tangent of
    z_1 = z_0² + n_1 at its pivot. Tangents of a parabola lie below it, so a posterior under
    the parabola always finds a close local Gaussian, while the SEM gives that region almost
    no mass. When ``loss_kl`` is far below ``sem_kl`` the loss does not see that its
    posterior has left the parabola, and nothing pulls the latents into the causal layout.
    """
    if not isinstance(model, CausalOvalVAE):
        raise ValueError(f"model must be a CausalOvalVAE, got {type(model).__name__}")
    if not isinstance(dataset, OvalDataset):
        raise ValueError(f"dataset must be an OvalDataset, got {type(dataset).__name__}")
    if not (is_int(n, 1) and n <= len(dataset)):
        raise ValueError(f"n must be an int in [1, {len(dataset)}], got {n!r}")
    seed = _check_seed(seed)
    device = _model_device(model)
    images = dataset.sample(n, torch.Generator().manual_seed(seed)).images
    with torch.no_grad():
        mean, scale_tril = model.encode(images.to(device).float())
        draws = torch.Generator(device=device).manual_seed(seed + 1)
        loss_kl = prior_kl(model, mean, scale_tril, generator=draws)
    sem_kl = monte_carlo_prior_kl(model.sem, mean, scale_tril, samples, generator=draws)
    noise = latent_noise(model, mean.double().cpu())[:, QuadraticSEM.effect]
    sigma = noise_std(model)[QuadraticSEM.effect].item()
    return PriorFit(
        below_parabola=float((noise < -2 * sigma).double().mean()),
        loss_kl=float(loss_kl.mean()),
        sem_kl=float(sem_kl.mean()),
    )


def run_ovals(
    config: OvalsConfig, seed: int | None = None, kinds: Sequence[str] = KINDS
) -> dict[str, dict[str, object]]:
    """Train (or load) each model of ``kinds`` and measure it on ``config.grid``.

    Returns ``{kind: {"train": train_oval_model's result, "model": the loaded model,
    "response": latent_response(model, every image of the grid)}}``.
    """
    kinds = [_check_kind(k) for k in kinds]
    dataset = oval_dataset(config.grid)
    runs: dict[str, dict[str, object]] = {}
    for kind in kinds:
        result = train_oval_model(config, kind, seed)
        model = load_oval_model(result, kind)
        runs[kind] = {
            "train": result,
            "model": model,
            "response": latent_response(model, dataset),
        }
    return runs
