"""The temporal causal-prior VAE of §5.2 / App. F: Mario clips, a learned graph over time.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review). Each of a clip's 3 frames is encoded on its own into 4 latents,
the 12 latents meet a learned linear SEM whose edges only point forward in time
(:class:`LinearTemporalSEM`, eq. 11 with the graph term of §4.5), and a decoder draws each
frame from its latents beside an encoded background. :func:`intervene` is Fig. 6's do(),
:func:`extrapolate` Fig. 7's roll-out.

The architecture is ours (App. F's Fig. 9 is not in the text): a small CNN per frame
(:class:`FrameEncoder`) and a spatial broadcast decoder (:class:`BroadcastDecoder`); see
:class:`TemporalCausalVAE` for why App. E's MLPs were not kept.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from causalkit.core.validate import check_non_negative, check_positive_int, is_int
from causalkit.semvae import sem
from causalkit.semvae.graph import (
    edge_probabilities,
    expected_graph_size,
    extract_graph,
    sample_edge_mask,
    temporal_maximal_dag,
)
from causalkit.semvae.model import GaussianEncoder, _check_model, _images, _sample

MARIO_FRAME_SHAPE = (3, 20, 20)
# Small, non-zero SEM weights at initialisation: the edge masks multiply the weights, so with
# all-zero weights the edge logits would get no gradient from the likelihood at all.
_WEIGHT_INIT_STD = 0.1


class LinearTemporalSEM(nn.Module):
    """The learned linear SEM of §5.2: z = (W ⊙ M^T) z + b + n over time-major latents.

    Latents are stacked time-major (Fig. 4), ``per_step`` per frame. W[j, i] is the weight of
    i -> j (sem.py's layout, row j = a_j^T of Thm. 2); M[i, j] the edge mask of §4.5, zero off
    :func:`temporal_maximal_dag`, so no edge ever points backward in time or within a
    step whatever W holds. Edge logits start at 0 (p = ½ for every allowed edge); the noise
    variances σ² are learnable (Thm. 3) and start at 1, b at 0.
    """

    def __init__(self, num_steps: int = 3, per_step: int = 4) -> None:
        super().__init__()
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.per_step = check_positive_int("per_step", per_step)
        d = num_steps * per_step
        self.register_buffer("allowed", temporal_maximal_dag(num_steps, per_step))
        self.weight = nn.Parameter(_WEIGHT_INIT_STD * torch.randn(d, d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.log_noise_var = nn.Parameter(torch.zeros(d))
        self.edge_logits = nn.Parameter(torch.zeros(d, d))

    @property
    def num_latents(self) -> int:
        return self.num_steps * self.per_step

    @property
    def noise_var(self) -> Tensor:
        """σ_j², shape (d,)."""
        return self.log_noise_var.exp()

    def edge_probs(self) -> Tensor:
        """p_i→j = sigmoid(logit) on allowed edges, 0 elsewhere (§4.5); (d, d), [i, j] = i -> j."""
        return edge_probabilities(self.edge_logits, self.allowed)

    def graph(self) -> Tensor:
        """The discrete graph G of §4.5: the allowed edges with p_i→j > ½, (d, d) bool."""
        return extract_graph(self.edge_probs(), self.allowed)

    def sample_mask(
        self, temperature: float, *, hard: bool, generator: torch.Generator | None = None
    ) -> Tensor:
        """A Gumbel-softmax edge mask (§4.5, :func:`sample_edge_mask`), (d, d)."""
        return sample_edge_mask(
            self.edge_logits,
            temperature=temperature,
            hard=hard,
            allowed=self.allowed,
            generator=generator,
        )

    def weights(self, mask: Tensor | None = None) -> Tensor:
        """The effective a_j of Thm. 2, (d, d) strictly lower-triangular.

        A linear f_j with masked inputs, f_j(p_0→j z_0, ...) (§4.5), is W[j, i] p_i→j. Without
        a ``mask`` the discrete graph :meth:`graph` is used, as for evaluation (§4.5).
        """
        mask = self.graph().to(self.weight.dtype) if mask is None else mask
        return self.weight * mask.mT

    def predict(self, z: Tensor, mask: Tensor | None = None) -> Tensor:
        """f(z) = W_eff z + b, (..., d): each latent's structural mean given the others."""
        return z @ self.weights(mask).mT + self.bias


class TemporalVAELoss(NamedTuple):
    """The terms of :func:`temporal_vae_loss`; ``loss`` is what to minimise (a scalar)."""

    loss: Tensor  # ()
    reconstruction: Tensor  # (N,) Σ_t L2(x_t, x̂_t)
    prediction: Tensor  # (N,) L2(x_3, x̂f_3)
    kl: Tensor  # (N,) D_z(q(z | x) ‖ p_f(z)) over all 12 latents
    graph_size: Tensor  # () |G(f)| ≈ Σ p_i→j, the relaxed edge count (§4.5)


class FrameEncoder(nn.Module):
    """q(z_t | x_t) for one 20x20 RGB frame: a small CNN, then :class:`GaussianEncoder`'s head.

    Three 3x3 convolutions (16, 32, 32 filters; the last two stride 2, so 20 -> 10 -> 5)
    find the sprite wherever it is; a :class:`GaussianEncoder` with one hidden layer of
    ``hidden`` units maps their 800 features to μ and a full Cholesky factor.
    """

    def __init__(self, latent_dim: int, hidden: int = 64) -> None:
        super().__init__()
        channels, side = MARIO_FRAME_SHAPE[0], MARIO_FRAME_SHAPE[1]
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        features = 32 * math.ceil(side / 4) ** 2
        self.head = GaussianEncoder(features, latent_dim, hidden, layers=2, full_covariance=True)

    def forward(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(..., 3, 20, 20) -> mean (..., k) and Cholesky factor (..., k, k)."""
        batch = frames.shape[:-3]
        features = self.trunk(frames.reshape(-1, *MARIO_FRAME_SHAPE))
        return self.head(features.reshape(*batch, -1))


class BroadcastDecoder(nn.Module):
    """p(x_t | z_t, background): a spatial broadcast decoder (Watters et al., 2019).

    Each frame's k latents are copied to every pixel, next to the pixel's (x, y)
    coordinates in [-1, 1] and ``background_dim`` channels of the encoded background
    frame; three 3x3 convolutions of ``width`` filters turn that into RGB logits. Drawing
    a sprite at a position then only asks the network to compare coordinates with
    latents, which it learns quickly.
    """

    def __init__(self, latent_dim: int, background_dim: int, width: int = 16) -> None:
        super().__init__()
        side = MARIO_FRAME_SHAPE[1]
        axis = torch.linspace(-1.0, 1.0, side)
        rows, cols = torch.meshgrid(axis, axis, indexing="ij")
        self.register_buffer("coordinates", torch.stack((cols, rows)), persistent=False)
        inputs = latent_dim + 2 + background_dim
        self.net = nn.Sequential(
            nn.Conv2d(inputs, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, MARIO_FRAME_SHAPE[0], 3, padding=1),
        )

    def forward(self, z: Tensor, background_code: Tensor) -> Tensor:
        """Latents (M, k) and background maps (M, C, 20, 20) -> RGB logits (M, 3, 20, 20)."""
        m, side = z.shape[0], MARIO_FRAME_SHAPE[1]
        tiled = z[:, :, None, None].expand(-1, -1, side, side)
        grid = self.coordinates.expand(m, -1, -1, -1)
        return self.net(torch.cat((tiled, grid, background_code), dim=1))


class TemporalCausalVAE(nn.Module):
    """The temporal causal-prior VAE of §5.2 / App. F.

    App. F: "Each of the 3 frames is then encoded separately into a 4-variate Gaussian
    distribution and these are concatenated to form a 12-variate Gaussian" (so the posterior
    covariance is block-diagonal, full within a frame), which meets the SEM prior; samples are
    "split into 4 samples per time frame and these are concatenated with the background
    latents and decoded". §5.2 calls this "an encoded background frame" appended "to the
    decoder's input".

    The architecture is App. F's Fig. 9, which the text does not carry, so it is ours:
    a CNN per frame (:class:`FrameEncoder`), the background encoded by one 3x3 convolution
    into ``background_dim`` feature maps, and a spatial broadcast decoder
    (:class:`BroadcastDecoder`) that reads the frame's latents beside those maps, so the
    4 latents per frame need not describe the background and carry no KL for it. App. E's
    MLPs, tried first, did not learn where the sprite is (the latents collapsed onto the
    prior; measurements in docs/semvae-log.md). Decoded frames pass through a sigmoid,
    since frames are RGB in [0, 1].
    """

    def __init__(
        self,
        per_step: int = 4,
        num_frames: int = 3,
        hidden: int = 64,
        background_dim: int = 8,
        width: int = 16,
    ) -> None:
        super().__init__()
        self.per_step = check_positive_int("per_step", per_step)
        self.num_frames = check_positive_int("num_frames", num_frames)
        self.background_dim = check_positive_int("background_dim", background_dim)
        check_positive_int("hidden", hidden)
        check_positive_int("width", width)
        self.encoder = FrameEncoder(per_step, hidden)
        self.background_encoder = nn.Sequential(
            nn.Conv2d(MARIO_FRAME_SHAPE[0], background_dim, 3, padding=1), nn.ReLU()
        )
        self.decoder = BroadcastDecoder(per_step, background_dim, width)
        self.sem = LinearTemporalSEM(num_frames, per_step)

    def encode(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(N, T, 3, 20, 20) -> per-frame mean (N, T, k) and Cholesky factor (N, T, k, k)."""
        return self.encoder(frames)

    def encode_background(self, backgrounds: Tensor) -> Tensor:
        """(N, 3, 20, 20) -> background feature maps (N, background_dim, 20, 20)."""
        return self.background_encoder(backgrounds)

    def decode(self, z: Tensor, backgrounds: Tensor) -> Tensor:
        """Latents (N, T, k) for any T, on backgrounds (N, 3, 20, 20) -> frames (N, T, 3, 20, 20).

        Fig. 6 decodes on a black background: pass zeros.
        """
        n, t, k = z.shape
        code = self.encode_background(backgrounds)
        code = code[:, None].expand(-1, t, -1, -1, -1).reshape(n * t, *code.shape[1:])
        logits = self.decoder(z.reshape(n * t, k), code)
        return torch.sigmoid(logits).reshape(n, t, *MARIO_FRAME_SHAPE)


def _block_diagonal(blocks: Tensor) -> Tensor:
    """(N, T, k, k) per-frame covariances -> (N, T k, T k) block-diagonal covariance."""
    n, t, k, _ = blocks.shape
    eye = torch.eye(t, dtype=blocks.dtype, device=blocks.device)
    # [n, s, a, u, b] = δ_su blocks[n, s, a, b]: frame s's block at rows s, columns u = s.
    return (eye[None, :, None, :, None] * blocks[:, :, :, None, :]).reshape(n, t * k, t * k)


def temporal_vae_loss(
    frames: Tensor,
    backgrounds: Tensor,
    model: TemporalCausalVAE,
    sparsity_weight: float,
    *,
    reconstruction_weight: float = 1.0,
    kl_weight: float = 1.0,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> TemporalVAELoss:
    """Eq. 11 for the clips of §5.2 with App. F's predicted-frame term, as a loss to minimise.

    Per clip: w_rec (Σ_t L2(x_t, x̂_t) + L2(x_3, x̂f_3)) + w_KL D_z(q ‖ p_f), averaged over
    the batch, plus ``sparsity_weight`` · |G(f)|. An L2 loss is the negative log-likelihood
    of a Gaussian decoder whose variance σ² the paper does not give; ``reconstruction_weight``
    is its 1/(2σ²) (1 means σ² = ½). ``kl_weight`` < 1 is for a warm-up at the start of
    training; the terms returned are unweighted. §5.2 writes the reconstruction error as
    "Σ_t L2(x_t, x̂_t) + L2(x_3, x̂f_3)", with x̂f_3 decoded from f_3(z_1, z_2): App. F, "the
    latents from the first two frames are passed through the SEM to predict their value at
    the next time frame and this is decoded and compared using L2 loss with the third frame".
    We pass the posterior samples z_1, z_2 through the SEM's noise-free mechanism
    (W_eff z + b, last step's rows). L2 is the summed squared error over pixels and channels.

    The SEM is linear, so its prior is exactly Gaussian (Thm. 2) and every pivot gives the same
    local Gaussian: no pivot sampling is needed, unlike :func:`causal_vae_loss`. One edge mask
    is sampled per call and used by both the prior and the prediction: relaxed
    Gumbel-softmax in training mode, binary (straight-through) in eval mode, where §4.5
    samples "binary edge probabilities". The graph term is λ Σ_ij sigmoid(logit_i→j) over the
    allowed edges, i.e. -λ ln s in place of eq. 11's ln s; App. G sweeps this coefficient.

    ``frames`` is (N, T, 3, 20, 20) with T = ``model.num_frames``, ``backgrounds``
    (N, 3, 20, 20), both in [0, 1]. ``generator`` seeds z and the edge mask.
    """
    _check_model(model, TemporalCausalVAE, "temporal_vae_loss")
    sparsity_weight = check_non_negative("sparsity_weight", sparsity_weight)
    reconstruction_weight = check_non_negative("reconstruction_weight", reconstruction_weight)
    kl_weight = check_non_negative("kl_weight", kl_weight)
    dtype = model.sem.weight.dtype
    frames = _images("frames", frames, (model.num_frames, *MARIO_FRAME_SHAPE), dtype)
    backgrounds = _images("backgrounds", backgrounds, MARIO_FRAME_SHAPE, dtype)
    if backgrounds.shape[0] != frames.shape[0]:
        raise ValueError(
            f"frames and backgrounds must hold the same number of clips, got "
            f"{frames.shape[0]} and {backgrounds.shape[0]}"
        )
    n, t, k = frames.shape[0], model.num_frames, model.per_step
    mean, scale_tril = model.encode(frames)
    z = _sample(mean, scale_tril, generator)
    reconstruction = (model.decode(z, backgrounds) - frames).square().flatten(1).sum(1)

    mask = model.sem.sample_mask(temperature, hard=not model.training, generator=generator)
    weights = model.sem.weights(mask)
    prior_mean, prior_cov = sem.linear_sem_moments(weights, model.sem.bias, model.sem.noise_var)
    posterior_cov = _block_diagonal(scale_tril @ scale_tril.mT)
    kl = sem.gaussian_kl(mean.reshape(n, t * k), posterior_cov, prior_mean, prior_cov)

    predicted = model.sem.predict(z.reshape(n, t * k), mask)[:, (t - 1) * k :]
    predicted_frame = model.decode(predicted[:, None], backgrounds)[:, 0]
    prediction = (predicted_frame - frames[:, -1]).square().flatten(1).sum(1)

    graph_size = expected_graph_size(model.sem.edge_probs(), model.sem.allowed)
    data_terms = reconstruction_weight * (reconstruction + prediction) + kl_weight * kl
    loss = data_terms.mean() + sparsity_weight * graph_size
    return TemporalVAELoss(loss, reconstruction, prediction, kl, graph_size)


def _temporal_sem(model: object) -> LinearTemporalSEM:
    if isinstance(model, TemporalCausalVAE):
        return model.sem
    if isinstance(model, LinearTemporalSEM):
        return model
    raise ValueError(
        f"model must be a TemporalCausalVAE or a LinearTemporalSEM, got {type(model).__name__}"
    )


def intervene(
    model: TemporalCausalVAE | LinearTemporalSEM, z: Tensor, index: int, value: float | Tensor
) -> Tensor:
    """do(z_index = value) on latents z, propagated to its descendants by the learned SEM (Fig. 6).

    §5.2 encodes a clip, assigns a value to one variable and propagates "the changes to their
    child variables using the SEM". Each latent keeps its own noise term n_j, the part of z_j
    the SEM does not explain, so for the linear SEM the change is the intervention's shift
    times its total effects: z' = z + (v - z_i) (I - W)^-1[:, i] (Thm. 2's propagation matrix).
    Non-descendants stay exactly as they were, and so does every frame before index's. The
    SEM is the discrete graph of §4.5 (edges with p_i→j > ½) with the learned weights.

    ``z`` is (..., d) with d = 12 for the default model; ``value`` a number or a tensor that
    broadcasts to z's batch shape. Returns z' of z's shape.
    """
    linear_sem = _temporal_sem(model)
    d = linear_sem.num_latents
    z = torch.as_tensor(z, dtype=linear_sem.weight.dtype)
    if z.dim() < 1 or z.shape[-1] != d:
        raise ValueError(
            f"z must have shape (..., {d}), one value per latent, got {tuple(z.shape)}"
        )
    if not (is_int(index, 0) and index < d):
        raise ValueError(f"index must be an int in [0, {d - 1}] (a latent of z), got {index!r}")
    value = torch.as_tensor(value, dtype=z.dtype)
    if not torch.isfinite(value).all():
        raise ValueError("value must be finite")
    total_effect = sem.propagation_matrix(linear_sem.weights())[:, index]
    shifted = z + (value - z[..., index])[..., None] * total_effect
    # z + (v - z_i) rounds; do(z_i = v) should hold exactly.
    is_target = torch.arange(d, device=z.device) == index
    return torch.where(is_target, value[..., None].to(z.dtype), shifted)


def extrapolate(model: TemporalCausalVAE | LinearTemporalSEM, z_frames: Tensor, k: int) -> Tensor:
    """Roll the learned SEM forward k frames past the given ones (§5.2, Fig. 7).

    The SEM relates frame t to frames t-2 and t-1 only through its last step's mechanism
    f_3(z_1, z_2) (the rows of the third frame's latents; with T frames, f_T reads the T-1
    before it). §5.2 applies it as a rule that holds at every time: encode x_1, x_2, predict
    z_3, then "taking z_5, ..., z_12 as the t = 1, 2 variables" predict z_4, and so on. Each
    step uses the noise-free mechanism (the structural mean, no n_j) on the last T-1 frames,
    real or predicted; the earlier steps' rows (e.g. edges t=1 -> t=2) play no part. The SEM
    is the discrete graph of §4.5, as in :func:`intervene`.

    ``z_frames`` is (N, F, per_step) with F ≥ T-1 frames, e.g. encoded means; returns the
    latents of the k next frames, (N, k, per_step).
    """
    linear_sem = _temporal_sem(model)
    steps, per_step = linear_sem.num_steps, linear_sem.per_step
    if steps < 2:
        raise ValueError("extrapolation needs a SEM over at least 2 time steps")
    k = check_positive_int("k (the number of frames to predict)", k)
    z_frames = torch.as_tensor(z_frames, dtype=linear_sem.weight.dtype)
    if z_frames.dim() != 3 or z_frames.shape[1] < steps - 1 or z_frames.shape[2] != per_step:
        raise ValueError(
            f"z_frames must have shape (N, F, {per_step}) with at least F = {steps - 1} frames "
            f"(the SEM predicts a frame from the {steps - 1} before it), "
            f"got {tuple(z_frames.shape)}"
        )
    last = slice((steps - 1) * per_step, steps * per_step)
    mechanism = linear_sem.weights()[last, : (steps - 1) * per_step]
    bias = linear_sem.bias[last]
    window = z_frames[:, -(steps - 1) :].flatten(1)
    predicted = []
    for _ in range(k):
        nxt = window @ mechanism.mT + bias
        predicted.append(nxt)
        window = torch.cat((window[:, per_step:], nxt), dim=1)
    return torch.stack(predicted, dim=1)
