"""The Mario experiments of §5.2 and App. F-G end to end, cached per config, coefficient and seed.

A run trains the temporal causal-prior VAE on 3-frame clips with one sparsity coefficient
λ; a sweep runs every coefficient of the config (App. G's Fig. 10 and 11) and picks the
model the paper would pick, "the sparsest graph that still achieves the best
reconstruction accuracy" (§5.2). The measurements are read off the learned model: the
graph against the true one (SHD up to a permutation within a time step, App. G), the
learned coefficients (Fig. 4), interventions decoded and located (Fig. 6), and the
extrapolation of the motion past the third frame (Fig. 7).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from causalkit.core import cached, choose_preset, get_device, progress, seed_everything
from causalkit.semvae.mario import MarioClips, mario_clips, sprite_position
from causalkit.semvae.models import TemporalCausalVAE, extrapolate, intervene, temporal_vae_loss
from causalkit.semvae.sem import temporal_structural_hamming_distance

CODE_VERSION = "1"
PER_STEP = 4  # latents per frame (App. F)
NUM_FRAMES = 3
POSITION_LATENTS = 2  # the sprite's x and y: what the data's SEM is about


@dataclass(frozen=True)
class MarioConfig:
    """Training and sweep settings; the defaults are the paper preset.

    The paper trains 250 epochs (App. G) with App. E's Adagrad on batches of 100. Here: Adam
    in batches of 32, the L2 terms weighted by 10 and the KL warmed up, because without
    them the posterior collapsed onto the prior (measured: KL ≈ 0 after 100 epochs, see
    :class:`~causalkit.semvae.models.TemporalCausalVAE`), and 120 epochs, so that a
    five-coefficient sweep fits 30 minutes on one CPU thread (17-25 min measured).
    """

    clips: int = 2000  # training clips
    eval_clips: int = 500  # held-out clips for every measurement
    epochs: int = 120
    batch_size: int = 32
    learning_rate: float = 3e-3  # Adam
    reconstruction_weight: float = 10.0  # 1/(2σ²) of the Gaussian decoder
    kl_warmup_epochs: int = 10  # the KL weight grows linearly from 0.02 to 1 over these
    sparsity_weights: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0)
    # "Still achieves the best reconstruction accuracy" (§5.2): within half a point of the
    # best. Runs that differ only in λ inside the SHD-0 band differed by up to 0.5 points
    # (seeds 0 and 4 of the paper preset), so a tighter tolerance would pick by noise.
    accuracy_tolerance: float = 0.005

    def __post_init__(self) -> None:
        for name in ("clips", "eval_clips", "epochs", "batch_size"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.kl_warmup_epochs < 0:
            raise ValueError(f"kl_warmup_epochs must be ≥ 0, got {self.kl_warmup_epochs}")
        for name in ("learning_rate", "reconstruction_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.sparsity_weights or any(w < 0 for w in self.sparsity_weights):
            raise ValueError(
                f"sparsity_weights must be non-negative and not empty, got {self.sparsity_weights}"
            )
        if not 0 <= self.accuracy_tolerance < 1:
            raise ValueError(f"accuracy_tolerance must be in [0, 1), got {self.accuracy_tolerance}")


PRESETS: dict[str, MarioConfig] = {
    # The coefficient the paper preset's sweeps put in the SHD-0 band most often, trained
    # for 80 epochs: seed 0 ends one or two edges off the true graph (SHD 1 with one torch
    # thread, 2 with two), within the CI budget.
    "quick": MarioConfig(epochs=80, eval_clips=200, sparsity_weights=(3.0,)),
    "paper": MarioConfig(),
}


def mario_config(preset: str) -> MarioConfig:
    return choose_preset(PRESETS, preset)


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


_SWEEP_FIELDS = ("sparsity_weights", "accuracy_tolerance")


def _kl_weight(config: MarioConfig, progress_in_epochs: float) -> float:
    if config.kl_warmup_epochs == 0:
        return 1.0
    return min(1.0, max(0.02, progress_in_epochs / config.kl_warmup_epochs))


def train_mario(config: MarioConfig, sparsity_weight: float, seed: int) -> dict[str, object]:
    """Train (or load from the cache) one temporal causal-prior VAE with coefficient λ.

    Returns the model's weights, per-epoch ``history`` (training loss terms, the number of
    edges and the SHD of the discrete graph) and ``train_seconds``.
    """
    if sparsity_weight < 0:
        raise ValueError(f"sparsity_weight must be ≥ 0, got {sparsity_weight}")
    # The sweep's settings do not change a run: leave them out, so sweeps share runs.
    training = {k: v for k, v in dataclasses.asdict(config).items() if k not in _SWEEP_FIELDS}
    key = {"config": training, "sparsity_weight": float(sparsity_weight), "seed": seed}

    def build() -> dict[str, object]:
        seed_everything(seed)
        device = get_device()
        data = mario_clips(config.clips, seed)
        frames, backgrounds = data.frames.to(device), data.backgrounds.to(device)
        model = TemporalCausalVAE(PER_STEP, NUM_FRAMES).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
        generator = torch.Generator(device=device).manual_seed(seed)
        order_generator = torch.Generator().manual_seed(seed)
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
                    generator=generator,
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

    return cached("semvae-mario", key, build, version=CODE_VERSION)


def load_mario(result: dict[str, object]) -> TemporalCausalVAE:
    """Rebuild a trained model from :func:`train_mario`'s result, in eval mode, on the CPU."""
    model = TemporalCausalVAE(PER_STEP, NUM_FRAMES)
    model.load_state_dict(result["state"])
    return model.eval()


def eval_clips(config: MarioConfig, seed: int) -> MarioClips:
    """Held-out clips: drawn with another seed than the training clips of any run."""
    return mario_clips(config.eval_clips, 10_000 + seed)


@torch.no_grad()
def reconstruction_accuracy(model: TemporalCausalVAE, clips: MarioClips) -> float:
    """App. G's "reconstruction accuracy", read as 1 - mean absolute pixel error of the
    three frames decoded from their posterior means (the paper does not define it)."""
    mean, _ = model.encode(clips.frames)
    decoded = model.decode(mean, clips.backgrounds)
    return 1.0 - (decoded - clips.frames).abs().mean().item()


def selected_model(result: dict[str, object]) -> TemporalCausalVAE:
    """The model a :func:`sweep` selected (:func:`select_run`), in eval mode, on the CPU."""
    return load_mario(result["runs"][result["selected"]])


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


def sweep(config: MarioConfig, seed: int) -> dict[str, object]:
    """App. G's sweep over λ for one seed, every run measured on the held-out clips.

    Returns per-λ lists (``accuracy``, ``shd``, ``edges``, ``train_seconds``), the
    ``selected`` index (:func:`select_run`) and ``runs`` (the cached results).
    """
    clips = eval_clips(config, seed)
    runs, accuracy, shd, edges = [], [], [], []
    for weight in config.sparsity_weights:
        run = train_mario(config, weight, seed)
        model = load_mario(run)
        runs.append(run)
        accuracy.append(reconstruction_accuracy(model, clips))
        shd.append(graph_shd(model))
        edges.append(int(learned_graph(model).sum()))
    return {
        "sparsity_weights": config.sparsity_weights,
        "accuracy": accuracy,
        "shd": shd,
        "edges": edges,
        "train_seconds": [r["train_seconds"] for r in runs],
        "selected": select_run(accuracy, config.sparsity_weights, config.accuracy_tolerance),
        "runs": runs,
    }
