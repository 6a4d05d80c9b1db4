"""The networks and losses of the ovals experiment (§5.1 / App. E), and the blocks both share.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review). The objective is eq. 11: the ELBO of eq. 3 with the SEM prior
p_f(z) of eq. 5, minus the graph term of §4.5. Written as a loss to minimise, per example:

    -ln p(x | z) + D_z(q(z | x) ‖ p_f(z))  (+ λ |G(f)| for the learned graph of §5.2),

with z ~ q(z | x) drawn once by the reparameterisation trick (App. B, eq. 25). The SEM maths
lives in :mod:`causalkit.semvae.sem`; this module wires it to encoders and decoders.

Ovals (§5.1, App. E): 64x64 binary images, 5 latents.

* :class:`OvalVAE`, :func:`beta_vae_loss`: the β = 1 and β = 4 baselines, N(0, I) prior and
  the usual diagonal posterior (§3.1: "the encoder usually outputs a diagonal covariance").
* :class:`CausalOvalVAE`, :func:`causal_vae_loss`: the full-covariance posterior of §3.1 and
  the parabolic SEM prior of :class:`QuadraticSEM`, linearised at ancestral pivots (§4.4,
  :func:`causal_prior_kl`) or at the posterior's own mean (:func:`posterior_pivot_kl`).
* :func:`decode_from_noise`: the latent noise traversal of Fig. 3.

App. E: "The encoder is a 3-layer MLP with 64 hidden ReLU units in each layer; the decoder is
identical but with 4 layers". We count linear layers, so the encoder is
Linear-ReLU-Linear-ReLU-Linear (two hidden layers of 64) and the decoder has three hidden
layers. The Mario model of §5.2 (a CNN encoder and a broadcast decoder) is in
:mod:`causalkit.semvae.temporal`.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causalkit.core.validate import check_non_negative, check_positive_int, is_int
from causalkit.semvae import sem

OVAL_SIZE = 64
OVAL_LATENTS = 5
Reconstruction = Literal["bernoulli", "l2"]
# Where the causal prior is linearised for the KL: "closest" is §4.4 / App. F as written (the
# closest local Gaussian among ancestral pivots), "posterior-mean" the Taylor point that
# makes the tangent accurate where the posterior is (see posterior_pivot_kl).
PivotRule = Literal["closest", "posterior-mean"]
PIVOT_RULES: tuple[PivotRule, ...] = ("closest", "posterior-mean")
# App. E trains "our causal-prior VAE and two isotropic-prior VAEs for comparison, one with a
# lower β and one with higher β"; Fig. 1-3 label them β = 1 and β = 4.
OvalKind = Literal["beta1", "beta4", "causal"]
KINDS: tuple[OvalKind, ...] = ("beta1", "beta4", "causal")
BETAS: dict[str, float] = {"beta1": 1.0, "beta4": 4.0}
KIND_LABELS: dict[str, str] = {
    "beta1": "VAE (β = 1)",
    "beta4": "VAE (β = 4)",
    "causal": "causal-prior VAE",
}


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
    home = sem.draw_on(generator, mean.device)
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=home)
    eps = eps.to(mean.device)
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
    charges what the SEM charges there (see :func:`causalkit.semvae.analysis.prior_fit`). The
    pivot is μ detached (a point of expansion is no parameter), one per example; gradients
    reach the posterior and σ². ``mean`` (N, d), ``scale_tril`` (N, d, d); returns (N,).
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


def check_kind(kind: object) -> OvalKind:
    """``kind`` if it is one of :data:`KINDS`, else a ValueError naming them."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return kind  # type: ignore[return-value]


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
    if check_kind(kind) == "causal":
        return CausalOvalVAE(latents, hidden, num_pivots=num_pivots, pivot=pivot)
    return OvalVAE(latents, hidden)
