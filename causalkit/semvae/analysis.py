"""What the trained causal-prior VAEs learned, as numbers: Fig. 2 for the ovals, Fig. 4-7 for Mario.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review). For the ovals (§5.1): how each latent answers the oval's position
and the nuisance factors (:func:`latent_response`, Fig. 2), and how far the posterior sits
from the SEM prior (:func:`prior_fit`). For Mario (§5.2, App. G): the learned graph against
the true one (SHD up to a permutation within a time step), the learned coefficients
(Fig. 4), interventions decoded and located (Fig. 6), the extrapolation of the motion past
the third frame (Fig. 7), and §5.2's choice of model in a sweep (:func:`select_run`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from causalkit.core import check_seed, child_seed
from causalkit.core.validate import is_int
from causalkit.semvae.graph import temporal_structural_hamming_distance
from causalkit.semvae.mario import NUM_FRAMES, MarioClips, sprite_position
from causalkit.semvae.model import (
    CausalOvalVAE,
    OvalVAE,
    QuadraticSEM,
    monte_carlo_prior_kl,
    prior_kl,
)
from causalkit.semvae.ovals import OVAL_FACTORS, OvalDataset
from causalkit.semvae.temporal import TemporalCausalVAE, extrapolate, intervene

PER_STEP = 4  # latents per frame (App. F)
POSITION_LATENTS = 2  # the sprite's x and y: what the data's SEM is about
# Images encoded per forward pass when measuring: 2,048 x 4,096 float32 inputs are 32 MB.
_ENCODE_CHUNK = 2048
_SCALE, _ROTATION, _X, _OFFSET = (
    OVAL_FACTORS.index(name) for name in ("scale", "rotation", "x", "offset")
)


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
    training loss uses (:func:`~causalkit.semvae.model.prior_kl`: the closest local Gaussian,
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
    seed = check_seed(seed)
    device = _model_device(model)
    images = dataset.sample(n, torch.Generator().manual_seed(seed)).images
    with torch.no_grad():
        mean, scale_tril = model.encode(images.to(device).float())
        draws = torch.Generator().manual_seed(child_seed(seed, "prior-fit", "draws"))
        loss_kl = prior_kl(model, mean, scale_tril, generator=draws)
    sem_kl = monte_carlo_prior_kl(model.sem, mean, scale_tril, samples, generator=draws)
    noise = latent_noise(model, mean.double().cpu())[:, QuadraticSEM.effect]
    sigma = noise_std(model)[QuadraticSEM.effect].item()
    return PriorFit(
        below_parabola=float((noise < -2 * sigma).double().mean()),
        loss_kl=float(loss_kl.mean()),
        sem_kl=float(sem_kl.mean()),
    )


# --------------------------------------------------------------------------- Mario, measured


def true_latent_graph() -> Tensor:
    """App. F's graph over 12 latents, 4 per frame: latent a of frame 3 reads latent a of
    frames 1 and 2 for the two position latents a, nothing else (Fig. 4). Which latents
    hold the position is arbitrary: the SHD of App. G is taken up to a permutation."""
    graph = torch.zeros(NUM_FRAMES * PER_STEP, NUM_FRAMES * PER_STEP, dtype=torch.bool)
    last = (NUM_FRAMES - 1) * PER_STEP
    for a in range(POSITION_LATENTS):
        for t in range(NUM_FRAMES - 1):
            graph[t * PER_STEP + a, last + a] = True
    return graph


@torch.no_grad()
def reconstruction_accuracy(model: TemporalCausalVAE, clips: MarioClips) -> float:
    """App. G's "reconstruction accuracy", read as 1 - mean absolute pixel error of the
    three frames decoded from their posterior means (the paper does not define it)."""
    mean, _ = model.encode(clips.frames)
    decoded = model.decode(mean, clips.backgrounds)
    return 1.0 - (decoded - clips.frames).abs().mean().item()


def learned_graph(model: TemporalCausalVAE) -> Tensor:
    """The discrete graph of §4.5 (edges with p > ½), (12, 12) bool on the CPU, [i, j] = i -> j."""
    return model.sem.graph().cpu()


def graph_shd(model: TemporalCausalVAE) -> int:
    """App. G's SHD between the learned graph and :func:`true_latent_graph`."""
    return temporal_structural_hamming_distance(learned_graph(model), true_latent_graph(), PER_STEP)


def coefficient_ratios(model: TemporalCausalVAE) -> list[float]:
    """For every frame-3 latent with a parent in frame 1 and one in frame 2: the weight on
    its strongest frame-2 parent over the weight on its strongest frame-1 parent.

    The data's rule x3 = 2 x2 - x1 gives -2 for any linear encoding of the position shared
    by the frames (the same encoder reads every frame), e.g. Fig. 4's 2.3 / -1.1.
    """
    weights = model.sem.weights().detach()
    k = PER_STEP
    ratios = []
    for j in range(2 * k, 3 * k):
        from_first, from_second = weights[j, :k], weights[j, k : 2 * k]
        if from_first.abs().max() > 0 and from_second.abs().max() > 0:
            second = from_second[from_second.abs().argmax()]
            first = from_first[from_first.abs().argmax()]
            ratios.append((second / first).item())
    return ratios


@torch.no_grad()
def intervention_effects(model: TemporalCausalVAE, clips: MarioClips, shift: float = 2.0) -> Tensor:
    """Fig. 6, measured: how far each frame's sprite moves under do(z_i = z_i + shift·s_i).

    Each clip is encoded (posterior means), latent i is set to its value plus ``shift``
    times its spread over the clips (s_i, the standard deviation), the learned SEM carries
    the change to the children (:func:`intervene`), and the clip is decoded on its own
    background; :func:`sprite_position` locates the sprite in every decoded frame, with and
    without the intervention. Returns (12, 3): the mean distance in pixels moved by frame t's
    sprite under an intervention on latent i.
    """
    mean, _ = model.encode(clips.frames)
    n = mean.shape[0]
    z = mean.reshape(n, -1)
    spread = z.std(dim=0)
    base = sprite_position(model.decode(mean, clips.backgrounds), clips.backgrounds)
    effects = torch.zeros(z.shape[1], NUM_FRAMES)
    for i in range(z.shape[1]):
        moved_z = intervene(model, z, i, z[:, i] + shift * spread[i])
        moved = model.decode(moved_z.reshape_as(mean), clips.backgrounds)
        where = sprite_position(moved, clips.backgrounds)
        distance = (where - base).norm(dim=-1)  # (N, 3); NaN where the sprite left the frame
        effects[i] = distance.nanmean(dim=0)
    return effects


def intervention_consistent(effects: Tensor, threshold: float = 0.5) -> bool:
    """Whether every intervention moved exactly the frames the true SEM says.

    A latent whose intervention moves its own frame's sprite by at least ``threshold``
    pixels is a position latent; do() on it must move frame 3 as well when it belongs to
    frame 1 or 2 (x3 = 2 x2 - x1), and nothing else: not the other earlier frame, never a
    frame before its own. Any other latent must move no sprite at all.
    """
    moved = effects >= threshold
    for i in range(effects.shape[0]):
        t = i // PER_STEP
        expected = {t, NUM_FRAMES - 1} if moved[i, t] else set()
        if {s for s in range(NUM_FRAMES) if moved[i, s]} != expected:
            return False
    return True


@torch.no_grad()
def extrapolation(model: TemporalCausalVAE, clips: MarioClips, k: int = 3) -> dict[str, Tensor]:
    """Fig. 7, measured: roll the SEM k frames past the two observed ones and locate the
    sprite in every decoded frame; the truth continues the motion, x_t = x_1 + (t-1)(x_2 - x_1).

    Returns the decoded frames (N, k, 3, 20, 20), predicted and true positions (N, k, 2),
    and ``error_px`` (k,): the mean distance per step ahead, over the clips where the
    predicted sprite is still found in the frame.
    """
    mean, _ = model.encode(clips.frames[:, : NUM_FRAMES - 1])
    future = extrapolate(model, mean, k)
    frames = model.decode(future, clips.backgrounds)
    predicted = sprite_position(frames, clips.backgrounds)
    first, second = clips.positions[:, 0], clips.positions[:, 1]
    steps = torch.arange(NUM_FRAMES - 1, NUM_FRAMES - 1 + k, dtype=first.dtype)
    truth = first[:, None] + steps[None, :, None] * (second - first)[:, None]
    return {
        "frames": frames,
        "predicted": predicted,
        "truth": truth,
        "error_px": (predicted - truth).norm(dim=-1).nanmean(dim=0),
    }


def select_run(
    accuracies: list[float], sparsity_weights: tuple[float, ...], tolerance: float
) -> int:
    """§5.2's choice: "the sparsest graph that still achieves the best reconstruction
    accuracy" -- the largest λ whose accuracy is within ``tolerance`` of the best."""
    best = max(accuracies)
    good = [i for i, a in enumerate(accuracies) if a >= best - tolerance]
    return max(good, key=lambda i: sparsity_weights[i])
