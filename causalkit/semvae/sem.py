"""The structural-equation prior of a causal-prior VAE, as short functions that map to the paper.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (§3-4, App. A-D, G).
The prior over the latents z is an additive noise model (ANM, eq. 5)

    z_j = f_j(z_pa(j)) + n_j,    n_j ~ N(0, σ_j²),

linearised at a pivot point (Thm. 3) so that it is locally Gaussian (Thm. 2) and the VAE's
KL term (eq. 3) has a closed form. Graph search is a continuous relaxation (§4.5): every edge
of a maximal DAG (Prop. 1) has a probability, and the expected number of edges is penalised.

Conventions used throughout:

* Variables are in causal order z_0, ..., z_{d-1} (Prop. 1): z_j may read z_i only if i < j.
* A weight matrix W has shape (..., d, d) and row j holds a_j^T of Thm. 2, so W[j, i] is the
  weight of the edge i -> j, W is strictly lower-triangular, and z = W z + b + n.
* A graph (adjacency, edge probabilities, edge masks) has shape (d, d) with entry [i, j] for
  the edge i -> j, the usual causal-discovery layout: the graph of W is ``W.mT != 0``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from functools import reduce

import torch
from torch import Tensor

from causalkit.core.validate import is_int, is_number

SEMFunction = Callable[[Tensor], Tensor]
# Checking symmetry in float32 has to allow for rounding in whatever produced the covariance.
_SYMMETRY_RTOL = 1e-5
# Permutations scored per chunk: bounds the (chunk, d, d) tensor the temporal SHD builds.
_PERMUTATION_CHUNK = 4096
_MAX_PERMUTATIONS = 1_000_000


# --------------------------------------------------------------------------- validation


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


def _graph(name: str, value: object) -> Tensor:
    graph = torch.as_tensor(value)
    if graph.dim() != 2 or graph.shape[0] != graph.shape[1]:
        raise ValueError(f"{name} must be a square (d, d) adjacency, got {tuple(graph.shape)}")
    if graph.dtype != torch.bool:
        if not ((graph == 0) | (graph == 1)).all():
            raise ValueError(
                f"{name} must be a binary adjacency matrix (0/1 or bool); "
                "threshold edge probabilities with extract_graph first"
            )
        graph = graph != 0
    return graph


def _is_acyclic(graph: Tensor) -> bool:
    # A graph is a DAG iff its adjacency is nilpotent: no walk of length d exists.
    adjacency = graph.to(torch.float64)
    walks = adjacency
    for _ in range(graph.shape[0] - 1):
        walks = (walks @ adjacency).clamp(max=1.0)
    return not walks.any()


def _allowed(allowed: object | None, d: int, device: torch.device) -> Tensor:
    if allowed is None:
        return maximal_dag(d).to(device)
    graph = _graph("allowed", allowed).to(device)
    if graph.shape != (d, d):
        raise ValueError(
            f"allowed must have shape ({d}, {d}) like the edges, got {tuple(graph.shape)}"
        )
    if not _is_acyclic(graph):
        raise ValueError(
            "allowed must be a DAG (a subgraph of a maximal DAG, Prop. 1); it has a cycle"
        )
    return graph


def _probabilities(name: str, value: object) -> Tensor:
    probs = _square(name, value)
    if ((probs.detach() < 0) | (probs.detach() > 1)).any():
        raise ValueError(f"{name} must hold probabilities in [0, 1]")
    return probs


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
    noise = torch.randn(
        (num_samples, d), generator=generator, dtype=noise_var.dtype, device=noise_var.device
    )
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


# --------------------------------------------------------------------------- Prop. 1, App. F/G


def maximal_dag(num_nodes: int, order: Sequence[int] | None = None) -> Tensor:
    """The maximal DAG G_Ω of Prop. 1 (§4.2): every edge i -> j with i before j in ``order``.

    Any DAG is a subgraph of the maximal DAG of one of its topological orders (proof, App. A),
    so learning which of these edges to keep (§4.5) loses no SEM. ``order`` lists the nodes
    from first to last cause (default 0, 1, ..., d-1, which gives edges {i -> j : i < j}).
    Returns a (d, d) bool adjacency, entry [i, j] for i -> j.
    """
    if not is_int(num_nodes, 1):
        raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
    position = torch.arange(num_nodes)
    if order is not None:
        order_list = [int(v) for v in order]
        if sorted(order_list) != list(range(num_nodes)):
            raise ValueError(
                f"order must be a permutation of 0..{num_nodes - 1} (each node once), "
                f"got {order_list}"
            )
        position[torch.tensor(order_list)] = torch.arange(num_nodes)
    return position[:, None] < position[None, :]


def temporal_maximal_dag(num_steps: int, per_step: int) -> Tensor:
    """The maximal DAG of the temporal model (§5.2, App. F): edges only forward in time.

    Latents are stacked time-major, z = (z^1_0..z^1_(k-1), z^2_0, ...), as in Fig. 4; the SEM
    may link any latent at step t to any latent at a later step t' > t (the arrow of time),
    and none within a step. It is a subgraph of ``maximal_dag(num_steps * per_step)``.
    Returns a (T k, T k) bool adjacency.
    """
    for name, value in (("num_steps", num_steps), ("per_step", per_step)):
        if not is_int(value, 1):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    step = torch.arange(num_steps * per_step) // per_step
    return step[:, None] < step[None, :]


# --------------------------------------------------------------------------- §4.5 sparsity


def edge_probabilities(logits: Tensor, allowed: Tensor | None = None) -> Tensor:
    """p_i→j = sigmoid(logit_i→j) on the edges of the maximal DAG, 0 elsewhere (§4.5).

    ``logits`` is (..., d, d), entry [i, j] for i -> j; ``allowed`` a (d, d) DAG, by default
    :func:`maximal_dag` of d (edges i -> j for i < j).
    """
    logits = _square("logits", logits)
    allowed = _allowed(allowed, logits.shape[-1], logits.device)
    return torch.where(allowed, torch.sigmoid(logits), torch.zeros_like(logits))


def sample_edge_mask(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    hard: bool = False,
    allowed: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A binary Gumbel-softmax (binary concrete) sample of the edge masks p_i→j (§4.5).

    The two-class Gumbel-softmax of Jang et al. (2017) with logits (l, 0) reduces to
    sigmoid((l + L) / τ) with L = ln u - ln(1 - u) logistic noise, u ~ U(0, 1). With
    ``hard=True`` the mask is the binary 1[l + L > 0] (an edge with probability sigmoid(l),
    whatever τ) on the forward pass, with the relaxed sample's gradient (straight-through),
    the "binary edge probabilities" of §4.5. Edges outside ``allowed`` (default: the maximal
    DAG) are 0. ``logits`` is (..., d, d), one independent sample per entry.
    """
    logits = _square("logits", logits)
    if not (is_number(temperature) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    allowed = _allowed(allowed, logits.shape[-1], logits.device)
    uniform = torch.rand(
        logits.shape, generator=generator, dtype=logits.dtype, device=logits.device
    )
    # torch.rand can return exactly 0, where ln u would be -inf.
    tiny = torch.finfo(logits.dtype).tiny
    uniform = uniform.clamp(min=tiny, max=1 - torch.finfo(logits.dtype).eps)
    logistic = torch.log(uniform) - torch.log1p(-uniform)
    mask = torch.sigmoid((logits + logistic) / temperature)
    if hard:
        # Adding (mask - mask.detach()), exactly 0, keeps the forward pass exactly binary.
        mask = (mask > 0.5).to(mask.dtype) + (mask - mask.detach())
    return torch.where(allowed, mask, torch.zeros_like(mask))


def expected_graph_size(edge_probs: Tensor, allowed: Tensor | None = None) -> Tensor:
    """|G(f)| ≈ Σ_j Σ_(i<j) p_i→j, the relaxed edge count of §4.5 (exact for binary p).

    ``edge_probs`` is (..., d, d); only edges of ``allowed`` (default: the maximal DAG) count.
    Returns (...).
    """
    edge_probs = _probabilities("edge_probs", edge_probs)
    allowed = _allowed(allowed, edge_probs.shape[-1], edge_probs.device)
    return torch.where(allowed, edge_probs, torch.zeros_like(edge_probs)).sum((-2, -1))


def sparsity_penalty(
    edge_probs: Tensor, num_samples: float, allowed: Tensor | None = None
) -> Tensor:
    """The graph term -|G(f)| ln s of eq. 7 / eq. 11, with |G(f)| from :func:`expected_graph_size`.

    The term is *added* to the objective that is maximised (eq. 11), so it is ≤ 0 and every
    expected edge costs ln s, with s the number of samples (the penalised-likelihood score of
    Nowzohour & Bühlmann, §3.2.1). To minimise a loss, subtract it. Returns (...).

    Implemented as printed: eq. 7 puts 1/s on the log-likelihood but not on |G| ln s (a BIC
    would use |G| ln s / 2s per sample). App. G calls the swept sparsity weight "-1/ln(s)" and
    sweeps it over 1e-3..1e-2, which is negative for any sample count s > 1; we follow the main
    text, where s ≥ 1 makes the term a penalty. To sweep a free weight λ instead, use
    -λ * expected_graph_size(...) directly.
    """
    if not is_number(num_samples):
        raise ValueError(f"num_samples must be a number, got {type(num_samples).__name__}")
    if not (math.isfinite(num_samples) and num_samples >= 1):
        raise ValueError(
            f"num_samples is s, the number of samples (§3.2.1), so it must be ≥ 1, got "
            f"{num_samples!r}; s < 1 would make ln s < 0 and reward edges instead"
        )
    return -expected_graph_size(edge_probs, allowed) * math.log(num_samples)


def extract_graph(
    edge_probs: Tensor, allowed: Tensor | None = None, threshold: float = 0.5
) -> Tensor:
    """The discrete graph G: edges of the maximal DAG with p_i→j > threshold (§4.5).

    §4.5 evaluates a model on binary edges; keeping the edges more likely than not (the
    default 0.5) is the mode of the independent Bernoulli edges. ``edge_probs`` is
    (..., d, d); returns a bool tensor of that shape, restricted to ``allowed``.
    """
    edge_probs = _probabilities("edge_probs", edge_probs)
    if not (is_number(threshold) and 0 <= threshold <= 1):
        raise ValueError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    allowed = _allowed(allowed, edge_probs.shape[-1], edge_probs.device)
    return (edge_probs.detach() > threshold) & allowed


# --------------------------------------------------------------------------- App. G


def structural_hamming_distance(pred: Tensor, target: Tensor) -> int:
    """Edges to insert or remove to turn ``pred`` into ``target`` (SHD as App. G defines it).

    Only insertions and removals count ("how many edges need to be inserted or removed"), so
    a reversed edge costs 2 (one of each), like cdt's SHD with double_for_anticausal=True.
    Both graphs are (d, d) binary adjacencies, entry [i, j] for i -> j.
    """
    pred, target = _graph("pred", pred), _graph("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    return int((pred != target).sum())


def temporal_structural_hamming_distance(
    pred: Tensor, target: Tensor, per_step: int, *, shared_across_time: bool = True
) -> int:
    """SHD up to a permutation of the latents within each time step (App. G, Fig. 11).

    Latents are stacked time-major, ``per_step`` (k) per step. The minimum is over
    relabellings of the k latents. App. G only says "up to a permutation of variables within
    each time step"; by default one relabelling is shared by all steps, because the same
    encoder encodes every frame (§5.2, App. F), so a permutation of its outputs (the
    indeterminacy of Thm. 7) permutes every step alike. ``shared_across_time=False`` lets each
    step have its own permutation ((k!)^T candidates). Returns the minimum SHD.
    """
    pred, target = _graph("pred", pred), _graph("target", target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    d = pred.shape[0]
    if not is_int(per_step, 1):
        raise ValueError(f"per_step must be a positive int, got {per_step!r}")
    if d % per_step:
        raise ValueError(f"the {d} latents do not split into time steps of per_step={per_step}")
    num_steps = d // per_step
    within = torch.tensor(list(itertools.permutations(range(per_step))), dtype=torch.long)
    offsets = torch.arange(num_steps) * per_step
    count = within.shape[0] if shared_across_time else within.shape[0] ** num_steps
    if count > _MAX_PERMUTATIONS:
        raise ValueError(
            f"{count} candidate permutations exceed the limit of {_MAX_PERMUTATIONS}; "
            "use fewer latents per step or shared_across_time=True"
        )
    if shared_across_time:
        perms = (within[:, None, :] + offsets[None, :, None]).reshape(-1, d)
    else:
        choice = torch.cartesian_prod(*[torch.arange(within.shape[0])] * num_steps)
        choice = choice.reshape(-1, num_steps)  # cartesian_prod of one range is 1-D
        perms = (within[choice] + offsets[None, :, None]).reshape(-1, d)
    best = d * d
    for chunk in torch.split(perms, _PERMUTATION_CHUNK):
        relabelled = pred[chunk[:, :, None], chunk[:, None, :]]
        best = min(best, int((relabelled != target).sum((-2, -1)).min()))
    return best
