"""Graphs of the causal-prior VAE: maximal DAGs, learned edges, and the distance to the truth.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review), §4.2 (Prop. 1), §4.5 and App. G. Graph search is a continuous
relaxation: every edge of a maximal DAG (Prop. 1) has a probability, a Gumbel-softmax mask
samples the graph, and the expected number of edges is penalised (§4.5). App. G scores a
learned graph by its structural Hamming distance (SHD) to the true one.

A graph (adjacency, edge probabilities, edge masks) has shape (d, d) with entry [i, j] for
the edge i -> j, as in :mod:`causalkit.semvae.sem`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from causalkit.core.validate import is_int, is_number
from causalkit.semvae.sem import _square, draw_on

# Permutations scored per chunk: bounds the (chunk, d, d) tensor the temporal SHD builds.
_PERMUTATION_CHUNK = 4096
_MAX_PERMUTATIONS = 1_000_000


# --------------------------------------------------------------------------- validation


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
    home = draw_on(generator, logits.device)
    uniform = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=home)
    uniform = uniform.to(logits.device)
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
