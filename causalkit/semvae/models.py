"""The networks and losses of the causal-prior VAE experiments (§5.1 / App. E, §5.2 / App. F).

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data*. The objective is
eq. 11: the ELBO of eq. 3 with the SEM prior p_f(z) of eq. 5, minus the graph term of §4.5.
Written as a loss to minimise, per example:

    -ln p(x | z) + D_z(q(z | x) ‖ p_f(z))  (+ λ |G(f)| for the learned graph of §5.2),

with z ~ q(z | x) drawn once by the reparameterisation trick (App. B, eq. 25). The SEM maths
lives in :mod:`causalkit.semvae.sem`; this module only wires it to encoders and decoders.

Ovals (§5.1, App. E): 64x64 binary images, 5 latents.

* :class:`OvalVAE`, :func:`beta_vae_loss`: the β = 1 and β = 4 baselines, N(0, I) prior and
  the usual diagonal posterior (§3.1: "the encoder usually outputs a diagonal covariance").
* :class:`CausalOvalVAE`, :func:`causal_vae_loss`: the full-covariance posterior of §3.1 and
  the parabolic SEM prior of :class:`QuadraticSEM`, linearised at ancestral pivots (§4.4,
  :func:`causal_prior_kl`) or at the posterior's own mean (:func:`posterior_pivot_kl`).
* :func:`decode_from_noise`: the latent noise traversal of Fig. 3.

Mario (§5.2, App. F): 3-frame 20x20 RGB clips, 4 latents per frame.

* :class:`TemporalCausalVAE`, :func:`temporal_vae_loss`: shared per-frame encoder, background
  code appended to the decoder input, learned linear SEM over the 12 latents with edges only
  forward in time (:class:`LinearTemporalSEM`), and the predicted-third-frame term.
* :func:`intervene` (Fig. 6) and :func:`extrapolate` (Fig. 7).

Architecture, as App. E reads: "The encoder is a 3-layer MLP with 64 hidden ReLU units in each
layer; the decoder is identical but with 4 layers". We count linear layers, so the encoder is
Linear-ReLU-Linear-ReLU-Linear (two hidden layers of 64) and the decoder has three hidden
layers. App. F gives no architecture (its Fig. 9 is not in the text) and says "otherwise
similarly to Sec. 5.1", so the Mario networks are the same MLPs on flattened frames.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causalkit.core.validate import check_non_negative, check_positive_int, is_int
from causalkit.semvae import sem

OVAL_SIZE = 64
OVAL_LATENTS = 5
MARIO_FRAME_SHAPE = (3, 20, 20)
Reconstruction = Literal["bernoulli", "l2"]
# Where the causal prior is linearised for the KL: "closest" is §4.4 / App. F as written (the
# closest local Gaussian among ancestral pivots), "posterior-mean" the Taylor point that
# makes the tangent accurate where the posterior is (see posterior_pivot_kl).
PivotRule = Literal["closest", "posterior-mean"]
PIVOT_RULES: tuple[PivotRule, ...] = ("closest", "posterior-mean")
# Small, non-zero SEM weights at initialisation: the edge masks multiply the weights, so with
# all-zero weights the edge logits would get no gradient from the likelihood at all.
_WEIGHT_INIT_STD = 0.1


# --------------------------------------------------------------------------- validation


def _check_model(model: object, cls: type, loss: str) -> None:
    if not isinstance(model, cls):
        raise ValueError(f"{loss} needs a model of type {cls.__name__}, got {type(model).__name__}")


def _images(name: str, value: object, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A float batch of shape (N, *shape) in [0, 1], N ≥ 1 (bool images are accepted)."""
    tensor = torch.as_tensor(value)
    if tensor.dim() != len(shape) + 1 or tensor.shape[0] < 1 or tuple(tensor.shape[1:]) != shape:
        raise ValueError(
            f"{name} must have shape (N, {', '.join(map(str, shape))}) with N ≥ 1, "
            f"got {tuple(tensor.shape)}"
        )
    tensor = tensor.to(dtype)
    if not (torch.isfinite(tensor).all() and tensor.min() >= 0 and tensor.max() <= 1):
        raise ValueError(f"{name} must hold finite pixel values in [0, 1]")
    return tensor


def _reconstruction_mode(value: object) -> Reconstruction:
    if value not in ("bernoulli", "l2"):
        raise ValueError(f"reconstruction must be 'bernoulli' or 'l2', got {value!r}")
    return value  # type: ignore[return-value]


# --------------------------------------------------------------------------- building blocks


def _mlp(in_features: int, hidden: int, out_features: int, layers: int) -> nn.Sequential:
    """``layers`` linear layers with ReLUs between them (App. E's "3-layer MLP")."""
    sizes = [in_features, *([hidden] * (layers - 1)), out_features]
    modules: list[nn.Module] = []
    for a, b in pairwise(sizes):
        if modules:
            modules.append(nn.ReLU())
        modules.append(nn.Linear(a, b))
    return nn.Sequential(*modules)


class GaussianEncoder(nn.Module):
    """q(z | x) = N(μ_q(x), Σ_q(x)) of eq. 4, returned as (μ, L) with Σ = L L^T.

    The last layer outputs μ, the log-variances ln L_ii² and, with ``full_covariance``, the
    d(d-1)/2 entries below L's diagonal. A Cholesky factor is the usual parametrisation of a
    full covariance (§3.1 asks for "full covariances Σ_q(x)" without saying how): any L with a
    positive diagonal gives a valid Σ, and z = μ + L ε is eq. 25's reparameterisation.
    Without ``full_covariance`` L is diagonal, the standard VAE posterior.
    """

    def __init__(
        self,
        in_features: int,
        latent_dim: int,
        hidden: int = 64,
        layers: int = 3,
        *,
        full_covariance: bool,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("latent_dim", latent_dim),
            ("hidden", hidden),
            ("layers", layers),
        ):
            check_positive_int(name, value)
        self.latent_dim = latent_dim
        self.full_covariance = full_covariance
        off_diagonal = latent_dim * (latent_dim - 1) // 2 if full_covariance else 0
        self.net = _mlp(in_features, hidden, 2 * latent_dim + off_diagonal, layers)
        self.register_buffer(
            "_below", torch.tril_indices(latent_dim, latent_dim, -1), persistent=False
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(..., in_features) -> mean (..., d) and Cholesky factor L (..., d, d)."""
        d = self.latent_dim
        out = self.net(x)
        mean, log_var = out[..., :d], out[..., d : 2 * d]
        scale_tril = torch.diag_embed(torch.exp(0.5 * log_var))
        if self.full_covariance:
            rows, cols = self._below
            lower = torch.zeros_like(scale_tril)
            lower[..., rows, cols] = out[..., 2 * d :]
            scale_tril = scale_tril + lower
        return mean, scale_tril


def _sample(mean: Tensor, scale_tril: Tensor, generator: torch.Generator | None) -> Tensor:
    """z = μ + L ε, ε ~ N(0, I): the reparameterisation trick (App. B, eq. 25)."""
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)


def standard_normal_kl(mean: Tensor, scale_tril: Tensor) -> Tensor:
    """KL(N(μ, L L^T) ‖ N(0, I)) = ½ (‖L‖_F² + ‖μ‖² - d - 2 Σ ln L_ii), shape (...).

    The KL term of a standard VAE (Kingma & Welling, 2014), for diagonal or full L; the prior
    the paper's model reduces to when the SEM has no edges and unit noise (§4.1).
    """
    diagonal = scale_tril.diagonal(dim1=-2, dim2=-1)
    return 0.5 * (
        scale_tril.square().sum((-2, -1))
        + mean.square().sum(-1)
        - mean.shape[-1]
        - 2 * diagonal.log().sum(-1)
    )


def _reconstruction_nll(logits: Tensor, x: Tensor, mode: Reconstruction) -> Tensor:
    """-ln p(x | z) per image, summed over pixels: Bernoulli, or §5.1's L2 on probabilities."""
    if mode == "bernoulli":
        nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        nll = (torch.sigmoid(logits) - x).square()
    return nll.flatten(1).sum(1)


class VAELoss(NamedTuple):
    """The terms of the oval losses: ``loss`` is what to minimise (a scalar, the batch mean)."""

    loss: Tensor  # ()
    reconstruction: Tensor  # (N,) -ln p(x | z) for one z ~ q(z | x)
    kl: Tensor  # (N,) D_z(q(z | x) ‖ p(z))


# --------------------------------------------------------------------------- ovals (App. E)


class _OvalAutoencoder(nn.Module):
    def __init__(self, latent_dim: int, hidden: int, full_covariance: bool) -> None:
        super().__init__()
        self.latent_dim = check_positive_int("latent_dim", latent_dim)
        pixels = OVAL_SIZE * OVAL_SIZE
        self.encoder = GaussianEncoder(
            pixels, latent_dim, hidden, layers=3, full_covariance=full_covariance
        )
        self.decoder = _mlp(latent_dim, hidden, pixels, layers=4)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, 1, 64, 64) images -> posterior mean (N, d) and Cholesky factor (N, d, d)."""
        return self.encoder(x.flatten(1))

    def decode(self, z: Tensor) -> Tensor:
        """(N, d) latents -> Bernoulli logits (N, 1, 64, 64) of the pixels."""
        return self.decoder(z).reshape(-1, 1, OVAL_SIZE, OVAL_SIZE)


class OvalVAE(_OvalAutoencoder):
    """The isotropic-prior baseline of §5.1 (β-VAE, Higgins et al.), diagonal posterior."""

    def __init__(self, latent_dim: int = OVAL_LATENTS, hidden: int = 64) -> None:
        super().__init__(latent_dim, hidden, full_covariance=False)


class QuadraticSEM(nn.Module):
    """The parabolic prior of §5.1: z_1 = a z_0² + b z_0 + c + n_1, every other z_j = n_j.

    §5.1 trains "with a fixed quadratic prior" whose only edge is x -> y, y = x² + n; §5.1's
    Fig. 3 discussion writes it "z_1 = z_2² + n_1". sem.py wants causes first (Prop. 1), so
    here the cause x is latent 0 and the effect y latent 1; latents 2.. are independent.
    The default (a, b, c) = (1, 0, 0) is that fixed parabola; App. B (Thm. 7) relies on it
    having "no learnable scale parameters" for identifiability, so the coefficients are
    buffers unless ``learn_mechanism`` makes them parameters (the learnable f_j of eq. 11).
    The noise variances σ_j² are always learnable (Thm. 3: "with learnable σ_i"), stored as
    ln σ_j² and initialised to 1, the N(0, I) of a standard VAE.
    """

    cause = 0
    effect = 1

    def __init__(
        self,
        num_latents: int = OVAL_LATENTS,
        coefficients: tuple[float, float, float] = (1.0, 0.0, 0.0),
        *,
        learn_mechanism: bool = False,
    ) -> None:
        super().__init__()
        if not is_int(num_latents, 2):
            raise ValueError(
                f"num_latents must be an int ≥ 2 (a cause and its effect), got {num_latents!r}"
            )
        values = torch.as_tensor(coefficients, dtype=torch.get_default_dtype())
        if values.shape != (3,) or not torch.isfinite(values).all():
            raise ValueError(
                f"coefficients must be three finite numbers (a, b, c), got {coefficients!r}"
            )
        self.num_latents = num_latents
        if learn_mechanism:
            self.coefficients = nn.Parameter(values)
        else:
            self.register_buffer("coefficients", values)
        self.log_noise_var = nn.Parameter(torch.zeros(num_latents))

    @property
    def noise_var(self) -> Tensor:
        """σ_j², shape (d,)."""
        return self.log_noise_var.exp()

    def mechanism(self, z: Tensor) -> Tensor:
        """f(z) = (f_0, ..., f_(d-1)), shape (..., d): the effect reads the cause, f_j = 0 else."""
        a, b, c = self.coefficients
        x = z[..., self.cause]
        y = (a * x + b) * x + c
        zeros = torch.zeros_like(z)
        return torch.cat(
            (zeros[..., : self.effect], y[..., None], zeros[..., self.effect + 1 :]), -1
        )

    def from_noise(self, noise: Tensor) -> Tensor:
        """Ancestral pass z_j = f_j(z_pa(j)) + n_j (eq. 5) for given noise n, shape (..., d).

        The cause is a root (z_0 = n_0), so one application of f is the whole pass.
        """
        return noise + self.mechanism(noise)


class CausalOvalVAE(_OvalAutoencoder):
    """The causal-prior VAE of §5.1: full-covariance posterior (§3.1), :class:`QuadraticSEM` prior.

    ``pivot`` says where the loss linearises the prior (:data:`PIVOT_RULES`): ``"closest"``
    draws ``num_pivots`` ancestral pivots at every loss evaluation and keeps the closest local
    Gaussian (§4.4, :func:`causal_prior_kl`); ``"posterior-mean"`` expands at each posterior's
    own mean (:func:`posterior_pivot_kl`) and draws none.
    """

    def __init__(
        self,
        latent_dim: int = OVAL_LATENTS,
        hidden: int = 64,
        *,
        coefficients: tuple[float, float, float] = (1.0, 0.0, 0.0),
        learn_mechanism: bool = False,
        num_pivots: int = 64,
        pivot: PivotRule = "closest",
    ) -> None:
        super().__init__(latent_dim, hidden, full_covariance=True)
        self.sem = QuadraticSEM(latent_dim, coefficients, learn_mechanism=learn_mechanism)
        self.num_pivots = check_positive_int("num_pivots", num_pivots)
        self.pivot = check_pivot_rule(pivot)


def check_pivot_rule(pivot: object) -> PivotRule:
    """``pivot`` if it is one of :data:`PIVOT_RULES`, else a ValueError naming them."""
    if pivot not in PIVOT_RULES:
        raise ValueError(f"pivot must be one of {', '.join(PIVOT_RULES)}, got {pivot!r}")
    return pivot  # type: ignore[return-value]


def _check_posterior(sem_prior: QuadraticSEM, mean: Tensor, scale_tril: Tensor) -> None:
    d = sem_prior.num_latents
    if mean.dim() != 2 or mean.shape[1] != d or scale_tril.shape != (*mean.shape, d):
        raise ValueError(
            f"mean and scale_tril must have shapes (N, {d}) and (N, {d}, {d}), got "
            f"{tuple(mean.shape)} and {tuple(scale_tril.shape)}"
        )


def causal_prior_kl(
    sem_prior: QuadraticSEM,
    mean: Tensor,
    scale_tril: Tensor,
    num_pivots: int,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """D_z(q ‖ p_f) against the closest local Gaussian of the SEM at sampled pivots (§4.4, App. F).

    §4.4: "We can then obtain the full prior distribution by sampling many pivot points z° by
    ancestral sampling according to Theorem 3" (z°_0 = n_0, z°_j = f_j(z°_(<j)) + n_j), and
    App. F says how the posterior meets that prior: it "is compared with its closest match in
    the SEM-sampled local Gaussian distribution". So we draw ``num_pivots`` pivots from the
    current SEM (:func:`sem.ancestral_sample`), linearise at each by autograd (Thm. 3,
    :func:`sem.local_gaussian_prior`), take the closed-form KL of eq. 3 between the posterior
    N(μ, L L^T) and each local Gaussian (:func:`sem.gaussian_kl`), and keep the smallest per
    example. "Closest" is read as smallest KL, the quantity the loss uses. For the uniform
    mixture of the K local Gaussians, KL(q ‖ mixture) ≤ min_k KL(q ‖ p_k) + ln K, so this is
    an upper bound up to a constant (left out: it moves no gradient, and dropping it makes the
    edgeless, unit-noise SEM give exactly the standard VAE's KL, §4.1).

    The pivots are fresh draws (detached, as a point of expansion is no parameter); gradients
    reach the posterior, σ² and, if learnable, the mechanism's coefficients. ``mean`` is
    (N, d), ``scale_tril`` (N, d, d); returns (N,).
    """
    num_pivots = check_positive_int("num_pivots", num_pivots)
    _check_posterior(sem_prior, mean, scale_tril)
    pivots = sem.ancestral_sample(
        sem_prior.mechanism, sem_prior.noise_var.detach(), num_pivots, generator=generator
    )
    prior_mean, prior_cov = sem.local_gaussian_prior(
        sem_prior.mechanism, pivots, sem_prior.noise_var
    )
    cov = scale_tril @ scale_tril.mT
    kl = sem.gaussian_kl(mean[:, None], cov[:, None], prior_mean[None], prior_cov[None])
    return kl.min(dim=1).values


def posterior_pivot_kl(sem_prior: QuadraticSEM, mean: Tensor, scale_tril: Tensor) -> Tensor:
    """D_z(q ‖ p_f) against the SEM linearised at the posterior's own mean: Thm. 3 at z° = μ.

    Thm. 3's linearisation is accurate near its pivot (Taylor), so the local Gaussian that
    describes the prior where q has its mass is the one expanded at μ: for z_1 = z_0² + n_1
    its mean follows the tangent at μ_0, z_1 ≈ 2 μ_0 z_0 - μ_0² + n_1, which passes through
    the parabola at z_0 = μ_0. It is the limit of choosing, among many ancestral pivots, the
    one nearest the posterior in its causes. Unlike :func:`causal_prior_kl`'s closest local
    Gaussian it gives a posterior under the parabola no tangent of its own to sit on, so it
    charges what the SEM charges there (see ``ovals_experiment.prior_fit``). The pivot is μ
    detached (a point of expansion is no parameter), one per example; gradients reach the
    posterior and σ². ``mean`` (N, d), ``scale_tril`` (N, d, d); returns (N,).
    """
    _check_posterior(sem_prior, mean, scale_tril)
    prior_mean, prior_cov = sem.local_gaussian_prior(
        sem_prior.mechanism, mean.detach(), sem_prior.noise_var
    )
    return sem.gaussian_kl(mean, scale_tril @ scale_tril.mT, prior_mean, prior_cov)


def prior_kl(
    model: CausalOvalVAE,
    mean: Tensor,
    scale_tril: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The KL of ``model``'s loss: :func:`causal_prior_kl` or :func:`posterior_pivot_kl`,
    as ``model.pivot`` says. ``generator`` seeds the ancestral pivots of ``"closest"``."""
    if model.pivot == "posterior-mean":
        return posterior_pivot_kl(model.sem, mean, scale_tril)
    return causal_prior_kl(model.sem, mean, scale_tril, model.num_pivots, generator=generator)


def monte_carlo_prior_kl(
    sem_prior: QuadraticSEM,
    mean: Tensor,
    scale_tril: Tensor,
    samples: int = 256,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """KL(q ‖ p_SEM) against the non-linear SEM itself, by Monte Carlo: E_q[ln q(z) - ln p(z)].

    The reference for :func:`causal_prior_kl`: ln p(z) is the exact density of eq. 5
    (:func:`sem.anm_log_prob`), no linearisation, so the estimate is unbiased and its error
    shrinks as 1/sqrt(samples). Where the two disagree, the local Gaussians are not the prior.
    ``mean`` (N, d), ``scale_tril`` (N, d, d); returns (N,), without gradients.
    """
    samples = check_positive_int("samples", samples)
    _check_posterior(sem_prior, mean, scale_tril)
    with torch.no_grad():
        q = torch.distributions.MultivariateNormal(mean, scale_tril=scale_tril)
        z = _sample(mean.expand(samples, *mean.shape), scale_tril, generator)  # (samples, N, d)
        log_p = sem.anm_log_prob(sem_prior.mechanism, z, sem_prior.noise_var)
        return (q.log_prob(z) - log_p).mean(0)


def beta_vae_loss(
    x: Tensor,
    model: OvalVAE,
    beta: float,
    *,
    reconstruction: Reconstruction = "bernoulli",
    generator: torch.Generator | None = None,
) -> VAELoss:
    """The β-VAE negative ELBO: mean over the batch of -ln p(x | z) + β KL(q(z | x) ‖ N(0, I)).

    β multiplies the KL term as in Higgins et al. (2016), the baselines of §5.1 (β = 1, β = 4).
    ``x`` is (N, 1, 64, 64) in [0, 1] (bool images are fine). ``reconstruction`` is
    ``"bernoulli"`` (the binary pixels' log-likelihood, the standard choice for binary images)
    or ``"l2"`` (the squared error of the decoded probabilities, §5.1's "L2 loss between each
    image and its prediction"). One z ~ q per image; ``generator`` seeds it.
    """
    _check_model(model, OvalVAE, "beta_vae_loss")
    beta = check_non_negative("beta (the weight of the KL term)", beta)
    mode = _reconstruction_mode(reconstruction)
    x = _images("x", x, (1, OVAL_SIZE, OVAL_SIZE), model.decoder[0].weight.dtype)
    mean, scale_tril = model.encode(x)
    nll = _reconstruction_nll(model.decode(_sample(mean, scale_tril, generator)), x, mode)
    kl = standard_normal_kl(mean, scale_tril)
    return VAELoss((nll + beta * kl).mean(), nll, kl)


def causal_vae_loss(
    x: Tensor,
    model: CausalOvalVAE,
    *,
    reconstruction: Reconstruction = "bernoulli",
    generator: torch.Generator | None = None,
) -> VAELoss:
    """The causal-prior VAE loss of §5.1: mean over the batch of -ln p(x | z) + D_z(q ‖ p_f).

    Eq. 11 without the graph term, since §5.1's graph (the one edge x -> y) is fixed. The KL is
    :func:`prior_kl`: by default :func:`causal_prior_kl` with ``model.num_pivots`` fresh
    ancestral pivots, or :func:`posterior_pivot_kl` when ``model.pivot`` is
    ``"posterior-mean"``; ``x`` and ``reconstruction`` are as in :func:`beta_vae_loss`.
    ``generator`` seeds z and the pivots.
    """
    _check_model(model, CausalOvalVAE, "causal_vae_loss")
    mode = _reconstruction_mode(reconstruction)
    x = _images("x", x, (1, OVAL_SIZE, OVAL_SIZE), model.decoder[0].weight.dtype)
    mean, scale_tril = model.encode(x)
    nll = _reconstruction_nll(model.decode(_sample(mean, scale_tril, generator)), x, mode)
    kl = prior_kl(model, mean, scale_tril, generator=generator)
    return VAELoss((nll + kl).mean(), nll, kl)


def decode_from_noise(model: OvalVAE | CausalOvalVAE, noise: Tensor) -> Tensor:
    """Decode latent noise values n (Fig. 3's "latent noise traversal"), as pixel probabilities.

    The noise goes through the prior's SEM ancestrally, z_j = f_j(z_pa(j)) + n_j (eq. 5):
    for the causal-prior VAE moving n_1 moves the oval off the parabola, moving n_0 moves it
    along it; for a β-VAE the prior has no edges and z = n. ``noise`` holds raw n_j (not in
    units of σ_j; scale by ``model.sem.noise_var.sqrt()`` to traverse ±k σ). Shape (N, d);
    returns (N, 1, 64, 64) in [0, 1]. Runs without autograd: it is for display.
    """
    if not isinstance(model, OvalVAE | CausalOvalVAE):
        raise ValueError(
            f"decode_from_noise needs an OvalVAE or CausalOvalVAE, got {type(model).__name__}"
        )
    noise = torch.as_tensor(noise, dtype=model.decoder[0].weight.dtype)
    if noise.dim() != 2 or noise.shape[1] != model.latent_dim:
        raise ValueError(
            f"noise must have shape (N, {model.latent_dim}), one n_j per latent, "
            f"got {tuple(noise.shape)}"
        )
    with torch.no_grad():
        z = model.sem.from_noise(noise) if isinstance(model, CausalOvalVAE) else noise
        return torch.sigmoid(model.decode(z))


# --------------------------------------------------------------------------- Mario (App. F)


class LinearTemporalSEM(nn.Module):
    """The learned linear SEM of §5.2: z = (W ⊙ M^T) z + b + n over time-major latents.

    Latents are stacked time-major (Fig. 4), ``per_step`` per frame. W[j, i] is the weight of
    i -> j (sem.py's layout, row j = a_j^T of Thm. 2); M[i, j] the edge mask of §4.5, zero off
    :func:`sem.temporal_maximal_dag`, so no edge ever points backward in time or within a
    step whatever W holds. Edge logits start at 0 (p = ½ for every allowed edge); the noise
    variances σ² are learnable (Thm. 3) and start at 1, b at 0.
    """

    def __init__(self, num_steps: int = 3, per_step: int = 4) -> None:
        super().__init__()
        self.num_steps = check_positive_int("num_steps", num_steps)
        self.per_step = check_positive_int("per_step", per_step)
        d = num_steps * per_step
        self.register_buffer("allowed", sem.temporal_maximal_dag(num_steps, per_step))
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
        return sem.edge_probabilities(self.edge_logits, self.allowed)

    def graph(self) -> Tensor:
        """The discrete graph G of §4.5: the allowed edges with p_i→j > ½, (d, d) bool."""
        return sem.extract_graph(self.edge_probs(), self.allowed)

    def sample_mask(
        self, temperature: float, *, hard: bool, generator: torch.Generator | None = None
    ) -> Tensor:
        """A Gumbel-softmax edge mask (§4.5, :func:`sem.sample_edge_mask`), (d, d)."""
        return sem.sample_edge_mask(
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
    MLPs, tried first, did not learn where the sprite is within 100 epochs (the latents
    collapsed onto the prior). Without the KL term, as plain autoencoders on 3,000-5,000
    clips (Adam, this project's CPU), the MLPs' best |r| between a code and the sprite's
    x or y was ≈ 0.5 after 60 epochs; this CNN encoder with the broadcast decoder reached
    0.93 and 0.86 after 15. Decoded frames pass through a sigmoid, since frames are RGB in
    [0, 1].
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

    graph_size = sem.expected_graph_size(model.sem.edge_probs(), model.sem.allowed)
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
