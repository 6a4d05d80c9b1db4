"""Training the MNIST CGN (Sauer & Geiger, ICLR 2021, arXiv:2101.06046, §3.1).

One step (the paper gives no pseudo-code for MNIST):

1. draw (u, y) shared by the three mechanisms (§3.1: "we utilize the same noise
   u and label y" in training), run them and compose (Eq. 2);
2. generator loss = the least-squares adversarial loss of the composite against
   the class-conditional discriminator + L_shape (Eq. 3) of the mask;
3. discriminator loss on a batch of real images of the variant and the
   (detached) composites.

μ_mask is monitored throughout (§4.2, Table 1): near 0 or 1 means the mask
collapsed and one texture mechanism paints the whole image. The three switches of
:class:`TrainConfig` turn one inductive bias off at a time for the MNIST analogue of
Table 1. The optimiser settings the paper leaves open are in ``docs/cgn-log.md``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from causalkit.cgn.losses import (
    MNIST_SHAPE_WEIGHTS,
    TAU,
    ShapeWeights,
    binary_mask_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    shape_loss,
)
from causalkit.cgn.model import (
    CGN,
    NDF,
    NGF,
    PATCH_SIZE,
    Discriminator,
    _check_real,
    mask_mean,
    orient_roles,
)
from causalkit.cgn.variants import SIDE, MnistVariant
from causalkit.core import child_seed, get_device, progress
from causalkit.core.validate import check_int

# Fig. 5-style snapshots: the mechanism outputs for these classes, at fixed noise.
SNAPSHOT_CLASSES: tuple[int, ...] = (0, 3, 5, 8)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one CGN training run on one MNIST variant.

    Adam with β = (0.5, 0.999) for both players (the DCGAN defaults; App. C gives MNIST
    no hyperparameters). ``shape_loss``, ``texture_bias`` and ``adversarial`` switch one
    inductive bias off each. Without the adversarial loss only L_shape trains, and only
    the mask (the paper's "disabling L_rec"); ``texture_bias=False`` builds the texture
    mechanisms with one patch the size of the image, so the shuffle has nothing to
    permute (the ablation of §3.1's bias).
    """

    steps: int = 3000
    batch_size: int = 64
    ngf: int = NGF
    ndf: int = NDF
    learning_rate: float = 2e-4
    shape_weights: tuple[float, float] = tuple(MNIST_SHAPE_WEIGHTS)
    tau: float = TAU
    shape_loss: bool = True
    texture_bias: bool = True
    adversarial: bool = True
    log_every: int = 50
    snapshots: int = 6

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "ngf", "ndf", "log_every", "snapshots"):
            check_int(name, getattr(self, name), 1)
        _check_real("learning_rate", self.learning_rate, 1e-8, 1.0)
        _check_real("tau", self.tau, 0.0, 0.5)
        if len(self.shape_weights) != 2:
            raise ValueError(f"shape_weights must be (binary, mask), got {self.shape_weights!r}")
        for switch in ("shape_loss", "texture_bias", "adversarial"):
            if not isinstance(getattr(self, switch), bool):
                raise ValueError(f"{switch} must be True or False, got {getattr(self, switch)!r}")
        if not (self.shape_loss or self.adversarial):
            raise ValueError("with neither shape_loss nor adversarial there is nothing to train")

    @property
    def patch_size(self) -> int:
        return PATCH_SIZE if self.texture_bias else SIDE


def build_cgn(config: TrainConfig) -> CGN:
    """An untrained CGN with the config's widths and texture bias."""
    return CGN(ngf=config.ngf, patch_size=config.patch_size)


def _check_variant(data: object) -> MnistVariant:
    if not isinstance(data, MnistVariant):
        raise ValueError(f"data must be an MnistVariant, got {type(data).__name__}")
    if data.split != "train":
        raise ValueError(f"train the CGN on a training split, got the {data.split!r} split")
    return data


@torch.no_grad()
def _snapshot(cgn: CGN, u: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict:
    was_training = cgn.training
    cgn.eval()
    out = cgn(u, y, u, y, u, y, generator=generator)
    cgn.train(was_training)
    return {k: out[k].cpu() for k in ("mask", "foreground", "background", "composite")}


def train_cgn(data: MnistVariant, config: TrainConfig = TrainConfig(), seed: int = 0) -> dict:
    """Train a CGN on the training split ``data``; returns a cache-friendly dict.

    Keys: ``state`` (the CGN's state dict, CPU), ``config`` (as a dict),
    ``history`` (per logged step: ``step``, ``mu_mask`` (batch mean), ``mu_mask_std``
    (spread over the batch), ``binary`` (L_binary), ``loss_g_adv``, ``loss_d``),
    ``snapshots`` (``step`` and stacked ``mask``, ``foreground``, ``background``,
    ``composite`` for :data:`SNAPSHOT_CLASSES` at fixed noise), ``roles_swapped``
    and ``seconds``. The returned model is oriented by :func:`orient_roles` (the
    mask is the object); if that swapped the roles, the snapshots and μ_mask in
    the history are shown swapped too, so that all of them describe one model.
    """
    data = _check_variant(data)
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    check_int("seed", seed, 0, 2**32)
    device = get_device()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)  # a CPU stream on every device (draw_on)
    batches = torch.Generator().manual_seed(child_seed(seed, "real-batches"))

    cgn = build_cgn(config).to(device).train()
    disc = Discriminator(ndf=config.ndf).to(device).train()
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(cgn.parameters(), lr=config.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.learning_rate, betas=betas)
    weights = ShapeWeights(*config.shape_weights)
    images, labels = data.images.to(device), data.labels.to(device)

    fixed_y = torch.tensor(SNAPSHOT_CLASSES, device=device)
    fixed_u = torch.randn(len(fixed_y), cgn.latent_dim, generator=generator).to(device)
    snap_at = {round(i * config.steps / config.snapshots) for i in range(config.snapshots + 1)}
    snapshots: list[tuple[int, dict]] = []
    history: dict[str, list[float]] = {
        k: [] for k in ("step", "mu_mask", "mu_mask_std", "binary", "loss_g_adv", "loss_d")
    }
    sums = torch.zeros(5, device=device)  # accumulated on the device: no sync per step
    count = 0
    start = time.perf_counter()
    for step in progress(range(config.steps + 1), desc="CGN"):
        if step in snap_at:
            shuffle = torch.Generator().manual_seed(seed)
            snapshots.append((step, _snapshot(cgn, fixed_u, fixed_y, shuffle)))
        if step == config.steps:
            break
        out = cgn.sample(config.batch_size, generator)
        mask, composite, y = out["mask"], out["composite"], out["y_shape"]
        loss_g = torch.zeros((), device=device)
        adv = torch.zeros((), device=device)
        if config.adversarial:
            adv = generator_adversarial_loss(disc(composite, y))
            loss_g = loss_g + adv
        if config.shape_loss:
            loss_g = loss_g + shape_loss(mask, config.tau, weights)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        loss_d = torch.zeros((), device=device)
        if config.adversarial:
            real = torch.randint(len(labels), (config.batch_size,), generator=batches)
            real = real.to(device)
            loss_d = discriminator_adversarial_loss(
                disc(images[real], labels[real]), disc(composite.detach(), y)
            )
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        with torch.no_grad():
            mu = mask_mean(mask)
            binary = binary_mask_loss(mask)
            sums += torch.stack([mu.mean(), mu.std(), binary, adv.detach(), loss_d.detach()])
        count += 1
        if count == config.log_every or step == config.steps - 1:
            values = (sums / count).tolist()
            if not all(map(torch.isfinite, torch.tensor(values))):
                raise FloatingPointError(f"CGN training diverged at step {step} ({values})")
            history["step"].append(step + 1)
            for key, value in zip(list(history)[1:], values, strict=True):
                history[key].append(value)
            sums.zero_()
            count = 0
    seconds = time.perf_counter() - start
    swapped = orient_roles(cgn, generator=generator)
    snaps = {k: torch.stack([snap[k] for _, snap in snapshots]) for k in snapshots[0][1]}
    if swapped:  # show the run in the orientation the returned model has
        snaps["mask"] = 1 - snaps["mask"]
        snaps["foreground"], snaps["background"] = snaps["background"], snaps["foreground"]
        history["mu_mask"] = [1 - mu for mu in history["mu_mask"]]
    return {
        "state": {k: v.cpu() for k, v in cgn.state_dict().items()},
        "config": asdict(config),
        "history": history,
        "snapshots": {"step": [s for s, _ in snapshots], **snaps},
        "roles_swapped": swapped,
        "seconds": seconds,
    }


def load_cgn(result: dict, device: torch.device | str | None = None) -> CGN:
    """The trained CGN of a :func:`train_cgn` result, in eval mode on ``device``."""
    if not isinstance(result, dict) or "state" not in result or "config" not in result:
        raise ValueError("result must be a dict from train_cgn (with 'state' and 'config')")
    config = TrainConfig(
        **{**result["config"], "shape_weights": tuple(result["config"]["shape_weights"])}
    )
    cgn = build_cgn(config)
    cgn.load_state_dict(result["state"])
    return cgn.to(device or get_device()).eval()


__all__ = ["SNAPSHOT_CLASSES", "TrainConfig", "build_cgn", "load_cgn", "train_cgn"]
