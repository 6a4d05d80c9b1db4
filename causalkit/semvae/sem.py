"""The structural-equation prior of a causal-prior VAE, as short functions that map to the paper.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review; §3-4, App. A-D). The prior over the latents z is an additive
noise model (ANM, eq. 5)

    z_j = f_j(z_pa(j)) + n_j,    n_j ~ N(0, σ_j²),

linearised at a pivot point (Thm. 3) so that it is locally Gaussian (Thm. 2) and the VAE's
KL term (eq. 3) has a closed form. The graphs (Prop. 1, §4.5, App. G) are in
:mod:`causalkit.semvae.graph`.

Conventions used throughout:

* Variables are in causal order z_0, ..., z_{d-1} (Prop. 1): z_j may read z_i only if i < j.
* A weight matrix W has shape (..., d, d) and row j holds a_j^T of Thm. 2, so W[j, i] is the
  weight of the edge i -> j, W is strictly lower-triangular, and z = W z + b + n.
* A graph (adjacency, edge probabilities, edge masks) has shape (d, d) with entry [i, j] for
  the edge i -> j, the usual causal-discovery layout: the graph of W is ``W.mT != 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import reduce

import torch
from torch import Tensor

from causalkit.core.validate import is_int

SEMFunction = Callable[[Tensor], Tensor]
# Checking symmetry in float32 has to allow for rounding in whatever produced the covariance.
_SYMMETRY_RTOL = 1e-5


# --------------------------------------------------------------------------- validation


def draw_on(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """Where to draw random numbers: on the generator's device when one is given, else on
    ``device``. Training seeds CPU generators, so a run on CUDA draws the CPU's numbers and
    moves them: a seed gives the same noise on either device, as for CGN (a CUDA generator's
    stream differs from the CPU's, and the bounds of the tests come from the CPU's)."""
    return generator.device if generator is not None else device


def _float_tensor(name: str, value: object) -> Tensor:
    tensor = torch.as_tensor(value)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    if not torch.isfinite(tensor.detach()).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return tensor


def _square(name: str, value: object) -> Tensor:
    tensor = _float_tensor(name, value)
    if tensor.dim() < 2 or tensor.shape[-1] != tensor.shape[-2]:
        raise ValueError(f"{name} must have shape (..., d, d), got {tuple(tensor.shape)}")
    return tensor


def _common_dtype(*tensors: Tensor) -> torch.dtype:
    return reduce(torch.promote_types, (t.dtype for t in tensors))


def _broadcast_batch(names: str, *shapes: torch.Size) -> torch.Size:
    try:
        return torch.broadcast_shapes(*shapes)
    except RuntimeError:
        pretty = ", ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"the batch shapes of {names} do not broadcast: {pretty}") from None


def _check_last_dim(name: str, tensor: Tensor, d: int, what: str) -> None:
    if tensor.shape[-1] != d:
        raise ValueError(
            f"{name} must have {d} entries in its last dimension ({what}), "
            f"got shape {tuple(tensor.shape)}"
        )


def _check_strictly_lower(name: str, weights: Tensor) -> None:
    upper = torch.triu(weights.detach(), diagonal=0) != 0
    if upper.any():
        where = upper.nonzero()[0]
        *_, j, i = where.tolist()
        raise ValueError(
            f"{name} must be strictly lower-triangular (Thm. 2: z_j depends only on z_0..z_(j-1)), "
            f"but entry [{j}, {i}] is {weights.detach()[tuple(where)].item():.6g}: "
            f"z_{j} would depend on z_{i}, which does not come before it; put the variables "
            "in a causal (topological) order first (Prop. 1)"
        )


def _check_variances(name: str, variances: Tensor) -> None:
    if (variances.detach() < 0).any():
        raise ValueError(
            f"{name} holds noise variances σ², which cannot be negative; "
            f"got minimum {variances.detach().min().item():.6g}"
        )


# --------------------------------------------------------------------------- Thm. 2 / Thm. 8


def propagation_matrix(weights: Tensor) -> Tensor:
    """The product A_d ⋯ A_2 of Thm. 2 (eq. 9; Thm. 8, App. C), which equals (I - W)^-1.

    Each A_i is the identity with row i replaced by (a_i^T, 1, 0, ...): applying A_2, then
    A_3, ..., fills in z_i from the already-final z_1..z_(i-1). Entry [j, i] of the product is
    the total effect on z_j of z_i's own term b_i + n_i (the paper's "edge strengths").
    The extracted text garbles the product's bounds ("2 i=d A_i"); we read it as ∏ from i = d
    down to 2, i.e. A_d ⋯ A_2: A_2 acts first, as in the proof's recursion (eq. 40-44), so
    each A_i reads z_1..z_(i-1) once they are final (the reverse order would not give
    (I - W)^-1).

    ``weights`` is (..., d, d), strictly lower-triangular (row j = a_j^T); returns (..., d, d).
    """
    weights = _square("weights", weights)
    _check_strictly_lower("weights", weights)
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    eye = eye.expand_as(weights)
    # Forward substitution on (I - W) L = I is that same sweep, row after row; the unit
    # diagonal (z_i enters its own equation with weight 1) means no division is needed.
    return torch.linalg.solve_triangular(eye - weights, eye, upper=False, unitriangular=True)


def linear_sem_moments(weights: Tensor, bias: Tensor, noise_var: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and covariance of a linear ANM, z = W z + b + n, n ~ N(0, diag(σ²)) (Thm. 2, eq. 9).

    μ = (A_d ⋯ A_2) b and Σ = (A_d ⋯ A_2) diag(σ²) (A_d ⋯ A_2)^T, i.e. p(z) = N(z | μ, Σ):
    mean and covariance propagated through the SEM in causal order (proof in App. C). As in
    the paper, the noise is zero-mean and every offset lives in b (a noise mean would simply
    be added to b).

    Shapes: ``weights`` (..., d, d) strictly lower-triangular, ``bias`` (..., d) and
    ``noise_var`` (..., d) hold b_i and σ_i² (variances, not standard deviations); batch
    dimensions broadcast. Returns ``(mean, cov)`` of shapes (..., d) and (..., d, d).
    """
    weights = _square("weights", weights)
    bias = _float_tensor("bias", bias)
    noise_var = _float_tensor("noise_var", noise_var)
    d = weights.shape[-1]
    _check_last_dim("bias", bias, d, "one offset b_i per variable, like weights")
    _check_last_dim("noise_var", noise_var, d, "one variance σ_i² per variable, like weights")
    _check_variances("noise_var", noise_var)
    _broadcast_batch(
        "weights, bias and noise_var", weights.shape[:-2], bias.shape[:-1], noise_var.shape[:-1]
    )
    dtype = _common_dtype(weights, bias, noise_var)
    lmat = propagation_matrix(weights.to(dtype))
    mean = (lmat @ bias.to(dtype).unsqueeze(-1)).squeeze(-1)
    cov = (lmat * noise_var.to(dtype).unsqueeze(-2)) @ lmat.mT
    # Rounding in the product can leave Σ a hair asymmetric; the Cholesky in the KL wants it exact.
    return mean, 0.5 * (cov + cov.mT)


# --------------------------------------------------------------------------- Thm. 3 / Thm. 9


def _edge_mask(edge_mask: object, d: int) -> Tensor:
    mask = _square("edge_mask", edge_mask)
    if mask.shape[-1] != d:
        raise ValueError(f"edge_mask must have shape (..., {d}, {d}), got {tuple(mask.shape)}")
    return mask


def _joint_function(
    f: SEMFunction | Sequence[SEMFunction], d: int, edge_mask: object | None
) -> SEMFunction:
    """One callable R^d -> R^d, z ↦ (f_0(z_<0), ..., f_(d-1)(z_<(d-1))), from either form of f."""
    if isinstance(f, Sequence | torch.nn.ModuleList):
        functions = list(f)
        if len(functions) != d:
            raise ValueError(
                f"f has {len(functions)} per-variable functions but the SEM has {d} variables "
                "(the last dimension of the pivot or of noise_var)"
            )
        mask = None if edge_mask is None else _edge_mask(edge_mask, d)

        def joint(z: Tensor) -> Tensor:
            outputs = []
            for j, f_j in enumerate(functions):
                parents = z[..., :j]
                if mask is not None:  # §4.5: f_j(p_0→j z_0, ..., p_(j-1)→j z_(j-1))
                    parents = parents * mask[..., :j, j].to(z.dtype)
                out = torch.as_tensor(f_j(parents), dtype=z.dtype, device=z.device)
                if out.dim() == 0:  # a constant (e.g. f_0 of no parents) holds for every sample
                    out = out.expand(z.shape[:-1])
                elif out.shape == (*z.shape[:-1], 1):
                    out = out.squeeze(-1)
                if out.shape != z.shape[:-1]:
                    raise ValueError(
                        f"f[{j}] must map its parents, shape (..., {j}), to shape (...) = "
                        f"{tuple(z.shape[:-1])}, but returned {tuple(out.shape)}"
                    )
                outputs.append(out)
            return torch.stack(outputs, dim=-1)

        return joint
    if not callable(f):
        raise ValueError(f"f must be a callable or a sequence of callables, got {type(f).__name__}")
    if edge_mask is not None:
        raise ValueError(
            "edge_mask masks the inputs of each f_j separately (§4.5), so f must be given as a "
            "sequence of d per-variable callables, not as one joint callable"
        )

    def joint_checked(z: Tensor) -> Tensor:
        out = f(z)
        if not isinstance(out, Tensor) or out.shape != z.shape:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"f must map shape {tuple(z.shape)} to the same shape, got {shape}")
        return out

    return joint_checked


def _jacobian_row(output: Tensor, z: Tensor, create_graph: bool) -> Tensor:
    if not output.requires_grad:  # a constant f_j has no inputs to differentiate
        return torch.zeros_like(z)
    # Summing over the batch gives every sample's own gradient because f acts row by row.
    (row,) = torch.autograd.grad(
        output.sum(),
        z,
        retain_graph=True,
        create_graph=create_graph,
        allow_unused=True,
        materialize_grads=True,
    )
    return row


def linearise_sem(
    f: SEMFunction | Sequence[SEMFunction],
    pivot: Tensor,
    *,
    edge_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The local linear SEM of a non-linear ANM at a pivot z°, by autodiff (Thm. 3, eq. 10; Thm. 9).

    a_j = ∂f_j/∂z_(<j) at z° and b_j = f_j(z°) - a_j^T z°_(<j): the first-order Taylor
    expansion z_j ≈ a_j^T z_(<j) + b_j (+ n_j), which is exact when f is linear.
    Eq. 10 writes b_j = f_j(z°) + n_j - a_j^T z°; App. D then uses the linear SEM
    z_j = a_j^T z + b_j with no separate noise, so that "+ n_j" is the SEM's noise carried
    inside b_j, not a fixed draw. We keep b_j deterministic and the noise N(0, σ_j²) separate
    (Thm. 2's form); centring on a noise draw instead would double the variance and break
    exactness for linear SEMs. The "z°_j = f_j(z°) + n_j" of Thm. 3 says how pivots are drawn:
    see :func:`ancestral_sample`.

    ``f`` is either a sequence of d callables, f[j] mapping the parents z_(<j), shape (..., j),
    to shape (...) (f[0] gets an empty (..., 0) tensor and may return a constant), or one
    callable mapping (..., d) to (..., d) whose output j reads only inputs 0..j-1. Either must
    treat each row of a batch independently (e.g. batch-norm in eval mode), since the Jacobian
    is taken per sample. ``pivot`` is (..., d). ``edge_mask`` (..., d, d), only with a sequence,
    multiplies the inputs as f_j(m_0→j z_0, ..., m_(j-1)→j z_(j-1)) (§4.5).

    Returns ``(weights, bias)``, shapes (..., d, d) and (..., d), ready for
    :func:`linear_sem_moments`. The pivot is a point of expansion, not a parameter: gradients
    reach f's parameters (through a_j and b_j) but not the pivot.
    """
    pivot = _float_tensor("pivot", pivot).detach()
    d = pivot.shape[-1]
    joint = _joint_function(f, d, edge_mask)
    # Under torch.no_grad() the caller wants numbers only; otherwise keep the graph so the KL
    # can be back-propagated into f through the Jacobian.
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        z = pivot.clone().requires_grad_(True)
        values = joint(z)
        rows = [_jacobian_row(values[..., j], z, create_graph) for j in range(d)]
    weights = torch.stack(rows, dim=-2)
    if not create_graph:
        values = values.detach()
    # Thm. 3 needs every f_j to read only earlier variables (the maximal DAG, Prop. 1); with a
    # joint callable that is the caller's promise, checked here where it is visible.
    upper = torch.triu(weights.detach(), diagonal=0) != 0
    if upper.any():
        *_, j, i = upper.nonzero()[0].tolist()
        raise ValueError(
            f"f does not respect the causal order: at the pivot, output {j} depends on input {i} "
            f"(∂f_{j}/∂z_{i} ≠ 0, with {i} ≥ {j}); each f_j may read only z_0..z_(j-1) (Prop. 1)"
        )
    bias = values - (weights @ pivot.to(weights.dtype).unsqueeze(-1)).squeeze(-1)
    return weights, bias


def local_gaussian_prior(
    f: SEMFunction | Sequence[SEMFunction],
    pivot: Tensor,
    noise_var: Tensor,
    *,
    edge_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The local Gaussian prior N(μ, Σ) of a non-linear ANM at a pivot (Thm. 3 then Thm. 2).

    Linearises f at ``pivot`` (:func:`linearise_sem`) and propagates mean and covariance through
    the linear SEM with noise variances ``noise_var`` (..., d) (:func:`linear_sem_moments`).
    Returns ``(mean, cov)``, shapes (..., d) and (..., d, d).
    """
    weights, bias = linearise_sem(f, pivot, edge_mask=edge_mask)
    return linear_sem_moments(weights, bias, noise_var)


def ancestral_sample(
    f: SEMFunction | Sequence[SEMFunction],
    noise_var: Tensor,
    num_samples: int,
    *,
    edge_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pivots z° by ancestral sampling: z°_0 = f_0 + n_0, z°_j = f_j(z°_(<j)) + n_j (Thm. 3).

    §4.4 builds the full prior by drawing many pivots this way and linearising at each.
    ``f`` and ``edge_mask`` are as in :func:`linearise_sem`; ``noise_var`` is (d,).
    Returns a (num_samples, d) tensor.
    """
    noise_var = _float_tensor("noise_var", noise_var)
    if noise_var.dim() != 1:
        raise ValueError(f"noise_var must have shape (d,), got {tuple(noise_var.shape)}")
    _check_variances("noise_var", noise_var)
    if not is_int(num_samples, 1):
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    d = noise_var.shape[0]
    joint = _joint_function(f, d, edge_mask)
    home = draw_on(generator, noise_var.device)
    noise = torch.randn((num_samples, d), generator=generator, dtype=noise_var.dtype, device=home)
    noise = noise.to(noise_var.device)
    noise = noise * noise_var.sqrt()
    z = torch.zeros_like(noise)
    # Output j reads only inputs < j, so pass k makes z_0..z_(k-1) final: d passes suffice.
    for _ in range(d):
        z = joint(z) + noise
    return z


def anm_log_prob(
    f: SEMFunction | Sequence[SEMFunction],
    z: Tensor,
    noise_var: Tensor,
    *,
    edge_mask: Tensor | None = None,
) -> Tensor:
    """ln p(z) of the non-linear ANM itself (eq. 5), exactly: Σ_j ln N(z_j - f_j(z_<j); 0, σ_j²).

    The map n ↦ z of eq. 5 is triangular with unit diagonal (z_j = f_j(z_<j) + n_j), so its
    Jacobian determinant is 1 and the density of z is the product of the noise densities at
    n = z - f(z). This is the prior that §4.4's local Gaussians approximate; it needs no
    linearisation, which makes it the reference to check them against (a Monte-Carlo KL).
    ``f`` and ``edge_mask`` as in :func:`linearise_sem`; ``z`` (..., d), ``noise_var`` (d,).
    """
    z = _float_tensor("z", z)
    noise_var = _float_tensor("noise_var", noise_var)
    if noise_var.dim() != 1 or z.shape[-1:] != noise_var.shape:
        raise ValueError(
            f"z must be (..., d) and noise_var (d,) with the same d, got {tuple(z.shape)} and "
            f"{tuple(noise_var.shape)}"
        )
    _check_variances("noise_var", noise_var)
    noise = z - _joint_function(f, z.shape[-1], edge_mask)(z)
    return -0.5 * (noise.square() / noise_var + torch.log(2 * math.pi * noise_var)).sum(-1)


# --------------------------------------------------------------------------- KL (eq. 3, §4.4)


def _cholesky(name: str, cov: Tensor) -> Tensor:
    scale = cov.detach().abs().amax().clamp(min=torch.finfo(cov.dtype).tiny)
    if ((cov.detach() - cov.detach().mT).abs().amax() > _SYMMETRY_RTOL * scale).item():
        raise ValueError(f"{name} must be symmetric, like any covariance matrix")
    factor, info = torch.linalg.cholesky_ex(cov)
    if info.any():
        where = info.nonzero()[0].tolist()
        at = f" at batch index {tuple(where)}" if where else ""
        raise ValueError(
            f"{name} is not positive definite (Cholesky failed{at}); a Gaussian's covariance "
            "needs strictly positive eigenvalues (a zero noise variance makes the SEM prior "
            "singular)"
        )
    return factor


def gaussian_kl(mean_q: Tensor, cov_q: Tensor, mean_p: Tensor, cov_p: Tensor) -> Tensor:
    """KL(N(μ_q, Σ_q) ‖ N(μ_p, Σ_p)) in closed form: the D_z term of eq. 3 and eq. 11.

    ½ [tr(Σ_p⁻¹ Σ_q) + (μ_p - μ_q)^T Σ_p⁻¹ (μ_p - μ_q) - d + ln|Σ_p| - ln|Σ_q|], with the
    full posterior covariance the paper asks for (§3.1) and the local SEM prior of §4.4.
    Every inverse and determinant goes through Cholesky factors, which is both stable and the
    positive-definiteness check.

    Means are (..., d), covariances (..., d, d); batch dimensions broadcast; returns (...).
    """
    mean_q, mean_p = _float_tensor("mean_q", mean_q), _float_tensor("mean_p", mean_p)
    cov_q, cov_p = _square("cov_q", cov_q), _square("cov_p", cov_p)
    d = mean_q.shape[-1]
    for name, tensor in (("mean_p", mean_p), ("cov_q", cov_q), ("cov_p", cov_p)):
        _check_last_dim(name, tensor, d, "the dimension d of mean_q")
    batch = _broadcast_batch(
        "mean_q, cov_q, mean_p and cov_p",
        mean_q.shape[:-1],
        cov_q.shape[:-2],
        mean_p.shape[:-1],
        cov_p.shape[:-2],
    )
    dtype = _common_dtype(mean_q, cov_q, mean_p, cov_p)
    chol_q = _cholesky("cov_q", cov_q.to(dtype)).expand(*batch, d, d)
    chol_p = _cholesky("cov_p", cov_p.to(dtype)).expand(*batch, d, d)
    diff = (mean_p.to(dtype) - mean_q.to(dtype)).expand(*batch, d).unsqueeze(-1)
    # With Σ = L L^T: tr(Σ_p⁻¹ Σ_q) = ‖L_p⁻¹ L_q‖_F² and the Mahalanobis term = ‖L_p⁻¹ Δμ‖².
    trace = torch.linalg.solve_triangular(chol_p, chol_q, upper=False).square().sum((-2, -1))
    mahalanobis = torch.linalg.solve_triangular(chol_p, diff, upper=False).square().sum((-2, -1))
    log_det_ratio = 2 * (
        chol_p.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        - chol_q.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    )
    return 0.5 * (trace + mahalanobis - d + log_det_ratio)
