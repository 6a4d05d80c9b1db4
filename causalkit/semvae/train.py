"""The training loops of the causal-prior VAE: the ovals of §5.1 / App. E and the clips of §5.2.

Paper: *Unsupervised Learning of Causal Relationships from Unstructured Data* (anonymous
submission, under review). Both loops minimise the negative ELBO of eq. 3 with the SEM prior
(eq. 11): :func:`train_oval_vae` for one of the three oval VAEs (App. E), and
:func:`train_temporal_vae` for the temporal model with one sparsity coefficient λ (App. F, G).
Neither caches: :func:`causalkit.semvae.result` does, per config, part and seed.

One seed fixes a run. It seeds the initialisation (:func:`seed_everything`); every other random
stream (data, batch order, posterior samples, pivots, edge masks) is a named child of it
(:func:`child_seed`), so no two streams coincide. On the CPU a seed gives the same weights.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from causalkit.core import child_seed, flush_denormal, get_device, progress, seed_everything
from causalkit.semvae.analysis import NUM_FRAMES, PER_STEP, graph_shd, learned_graph
from causalkit.semvae.mario import mario_clips
from causalkit.semvae.model import (
    BETAS,
    KIND_LABELS,
    CausalOvalVAE,
    OvalKind,
    OvalVAE,
    Reconstruction,
    VAELoss,
    beta_vae_loss,
    build_oval_model,
    causal_vae_loss,
    check_kind,
)
from causalkit.semvae.ovals import oval_dataset
from causalkit.semvae.temporal import TemporalCausalVAE, temporal_vae_loss

if TYPE_CHECKING:
    from causalkit.semvae.experiment import MarioConfig, OvalsConfig


# --------------------------------------------------------------------------- ovals (App. E)


def _oval_loss(
    kind: OvalKind,
    model: OvalVAE | CausalOvalVAE,
    x: Tensor,
    reconstruction: Reconstruction,
    generator: torch.Generator,
) -> VAELoss:
    if kind == "causal":
        return causal_vae_loss(x, model, reconstruction=reconstruction, generator=generator)
    return beta_vae_loss(x, model, BETAS[kind], reconstruction=reconstruction, generator=generator)


def train_oval_vae(config: OvalsConfig, kind: str, seed: int) -> dict[str, object]:
    """Train one oval VAE of App. E: ``config.epochs`` shuffled passes over ``config.grid``.

    The loss is the negative ELBO of eq. 3: for ``"beta1"``/``"beta4"`` with β times the KL to
    N(0, I) (:func:`beta_vae_loss`), for ``"causal"`` with the KL of
    :func:`~causalkit.semvae.model.prior_kl` (§4.4's closest local Gaussian, or the one at the
    posterior mean, as ``config.pivot`` says). Runs on :func:`get_device`.

    Returns ``{"kind", "state"`` (CPU state dict), ``"curve"`` (``{"total",
    "reconstruction", "kl"}``, per-epoch means of the batch terms as float64 tensors),
    ``"train_seconds", "iterations", "device", "latents", "hidden", "num_pivots", "pivot"}``.
    A NaN loss stops training with a ``FloatingPointError``.
    """
    kind = check_kind(kind)
    device = get_device()
    seed_everything(seed)
    model = build_oval_model(kind, config.latents, config.hidden, config.num_pivots, config.pivot)
    model.to(device).train()
    images = oval_dataset(config.grid).images.to(device)  # bool: 315 MB for App. E's grid
    optimiser_class = torch.optim.Adagrad if config.optimizer == "adagrad" else torch.optim.Adam
    optimiser = optimiser_class(model.parameters(), lr=config.lr)
    # Batch order, z ~ q and the pivots drawn on the CPU and moved (draw_on): the same
    # numbers on any device.
    order = torch.Generator().manual_seed(child_seed(seed, "ovals", "batch-order"))
    draws = torch.Generator().manual_seed(child_seed(seed, "ovals", "draws"))
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
                terms = _oval_loss(kind, model, batch, config.reconstruction, draws)
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


def load_oval_vae(trained: dict[str, object]) -> OvalVAE | CausalOvalVAE:
    """The model of a :func:`train_oval_vae` result, on the CPU and in eval mode."""
    model = build_oval_model(
        trained["kind"],
        trained["latents"],
        trained["hidden"],
        trained["num_pivots"],
        trained["pivot"],
    )
    model.load_state_dict(trained["state"])
    return model.eval()


# --------------------------------------------------------------------------- Mario (App. F, G)


def _kl_weight(config: MarioConfig, progress_in_epochs: float) -> float:
    if config.kl_warmup_epochs == 0:
        return 1.0
    return min(1.0, max(0.02, progress_in_epochs / config.kl_warmup_epochs))


def train_temporal_vae(config: MarioConfig, sparsity_weight: float, seed: int) -> dict[str, object]:
    """Train one temporal causal-prior VAE (§5.2) with sparsity coefficient λ on fresh clips.

    ``config.clips`` clips (:func:`mario_clips`), ``config.epochs`` shuffled passes of
    :func:`temporal_vae_loss` with Adam, the KL weight warmed up over
    ``config.kl_warmup_epochs``. Returns the model's CPU weights, the per-epoch ``history``
    (training loss terms, the number of edges and the SHD of the discrete graph) and
    ``train_seconds``.
    """
    if sparsity_weight < 0:
        raise ValueError(f"sparsity_weight must be ≥ 0, got {sparsity_weight}")
    seed_everything(seed)
    device = get_device()
    data = mario_clips(config.clips, child_seed(seed, "mario", "train-clips"))
    frames, backgrounds = data.frames.to(device), data.backgrounds.to(device)
    model = TemporalCausalVAE(PER_STEP, NUM_FRAMES).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    draws = torch.Generator().manual_seed(child_seed(seed, "mario", "draws"))  # see draw_on
    order_generator = torch.Generator().manual_seed(child_seed(seed, "mario", "batch-order"))
    history: dict[str, list[float]] = {
        k: [] for k in ("loss", "reconstruction", "prediction", "kl", "edges", "shd")
    }
    start = time.perf_counter()
    steps = math.ceil(config.clips / config.batch_size)
    for epoch in progress(range(config.epochs), desc=f"Mario, λ = {sparsity_weight:g}"):
        model.train()
        order = torch.randperm(config.clips, generator=order_generator)
        sums = torch.zeros(4, device=device)  # read once an epoch: no sync per batch
        for step, batch in enumerate(order.split(config.batch_size)):
            terms = temporal_vae_loss(
                frames[batch],
                backgrounds[batch],
                model,
                sparsity_weight,
                reconstruction_weight=config.reconstruction_weight,
                kl_weight=_kl_weight(config, epoch + step / steps),
                generator=draws,
            )
            optimiser.zero_grad()
            terms.loss.backward()
            optimiser.step()
            sums += torch.stack(
                [
                    terms.loss.detach(),
                    terms.reconstruction.detach().mean(),
                    terms.prediction.detach().mean(),
                    terms.kl.detach().mean(),
                ]
            ) * len(batch)
        for name, value in zip(
            ("loss", "reconstruction", "prediction", "kl"),
            (sums / config.clips).tolist(),
            strict=True,
        ):
            history[name].append(value)
        history["edges"].append(int(learned_graph(model).sum()))
        history["shd"].append(graph_shd(model))
    return {
        "state": {k: v.cpu() for k, v in model.state_dict().items()},
        "history": {k: torch.tensor(v) for k, v in history.items()},
        "train_seconds": time.perf_counter() - start,
    }


def load_temporal_vae(trained: dict[str, object]) -> TemporalCausalVAE:
    """The model of a :func:`train_temporal_vae` result, on the CPU and in eval mode."""
    model = TemporalCausalVAE(PER_STEP, NUM_FRAMES)
    model.load_state_dict(trained["state"])
    return model.eval()
