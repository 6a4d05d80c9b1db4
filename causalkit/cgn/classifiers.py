"""The classifiers of the CGN paper (Sauer & Geiger, ICLR 2021): §4.3 (Table 2) and App. H
(Table 5), trained on real and generated data.

Every classifier is the same CNN (:func:`causalkit.core.classifier.small_cnn`,
App. C.4: "the same CNN architecture for all experiments and approaches"):

* **Original**: the variant's training images, where color or texture predicts
  the label as well as shape does.
* **Original + GAN**: plus CGN samples whose three mechanisms share (u, y), i.e.
  images like the training data (non-counterfactual), labelled y.
* **Original + CGN**: plus counterfactuals, labelled with the class given to the
  shape mechanism (§2.3: r predicts the label of one mechanism f_k).
* **IRM**: IRMv1 (Arjovsky et al., 2019) on 2 or 5 environments of different
  correlation (App. C.4), the penalty weight ramped linearly up from 0.
* **LNTL**: Learning Not to Learn (Kim et al., CVPR 2019): a head that predicts the
  digit's color from the CNN's features, played against them through gradient reversal.
* **Table 5**: shape, foreground and background classifiers trained on
  counterfactuals alone, each to predict its own mechanism's class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from causalkit.cgn.model import CGN, _check_real
from causalkit.cgn.variants import MnistVariant, make_variant
from causalkit.core import child_seed, get_device, progress
from causalkit.core.classifier import fit_classifier, small_cnn
from causalkit.core.validate import check_int

# App. C.4: IRM on 2 environments (90 %, 100 %) or 5 (90, 92.5, 95, 97.5, 100 %).
IRM_ENVIRONMENTS: dict[int, tuple[float, ...]] = {
    2: (0.9, 1.0),
    5: (0.9, 0.925, 0.95, 0.975, 1.0),
}
TABLE5_CORRELATIONS: tuple[float, ...] = (0.9, 0.95, 1.0)  # App. H
MECHANISMS: tuple[str, ...] = ("shape", "fg", "bg")
# Generated in chunks: on the CPU a batch of 128 runs about 4 times faster per image than
# one of 1,000, whose activations no longer fit in the cache.
GENERATE_BATCH = 128


@dataclass(frozen=True)
class ClassifierConfig:
    """Training of every classifier of one run (one CNN, one optimiser, for fairness).

    ``generated``: how many generated images (GAN samples or counterfactuals) join
    the real ones; ``per_noise``: counterfactuals drawn per noise u (App. A.3's
    "CF ratio"); ``irm_penalty``: the final IRMv1 penalty weight, reached by a
    linear ramp from 0 over the epochs (App. C.4); ``lntl_entropy`` (λ) and
    ``lntl_reversal`` (μ): LNTL's weights of the bias head's entropy and of its
    reversed gradient (Kim et al.).
    """

    width: int = 32
    epochs: int = 4
    batch_size: int = 64
    learning_rate: float = 1e-3
    generated: int = 20_000
    per_noise: int = 5
    irm_penalty: float = 10.0
    lntl_entropy: float = 0.1
    lntl_reversal: float = 0.3

    def __post_init__(self) -> None:
        for name in ("width", "epochs", "batch_size", "generated", "per_noise"):
            check_int(name, getattr(self, name), 1)
        _check_real("learning_rate", self.learning_rate, 1e-8, 1.0)
        for name in ("irm_penalty", "lntl_entropy", "lntl_reversal"):
            _check_real(name, getattr(self, name), 0.0, math.inf)


def _net(config: ClassifierConfig, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # the initial weights are part of a seeded run
    return small_cnn(in_channels=3, side=32, classes=10, width=config.width)


def _check_cgn(cgn: object) -> CGN:
    if not isinstance(cgn, CGN):
        raise ValueError(f"cgn must be a CGN, got {type(cgn).__name__}")
    return cgn


# --------------------------------------------------------------------------- generated data


@torch.no_grad()
def generate(
    cgn: CGN, n: int, *, counterfactual: bool, per_noise: int = 1, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``n`` CGN images on the CPU: ``images``, their ``masks`` and the classes ``shape``,
    ``fg``, ``bg``.

    Non-counterfactual (``counterfactual=False``): each image has one (u, y) for
    all mechanisms, as in training, so ``shape == fg == bg``. Counterfactual: each
    noise u (shared by the mechanisms, §2.2: "we fix the noise u") is drawn once
    for ``per_noise`` images, each of which draws the three classes
    independently and uniformly (§2.3).
    """
    cgn = _check_cgn(cgn)
    n = check_int("n", n, 1)
    per_noise = check_int("per_noise", per_noise, 1)
    device = next(cgn.parameters()).device
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))  # CPU: see draw_on
    was_training = cgn.training
    cgn.eval()
    out: dict[str, list[torch.Tensor]] = {
        "images": [],
        "masks": [],
        "shape": [],
        "fg": [],
        "bg": [],
    }
    for start in range(0, n, GENERATE_BATCH):
        size = min(GENERATE_BATCH, n - start)
        u = torch.randn(math.ceil(size / per_noise), cgn.latent_dim, generator=generator)
        u = u.to(device)
        u = u.repeat_interleave(per_noise, dim=0)[:size]
        y = torch.randint(cgn.n_classes, (3, size), generator=generator).to(device)
        if not counterfactual:
            y = y[:1].expand(3, -1)
        images = cgn(u, y[0], u, y[1], u, y[2], generator=generator)
        out["images"].append(images["composite"].cpu())
        out["masks"].append(images["mask"].cpu())
        for part, labels in zip(MECHANISMS, y, strict=True):
            out[part].append(labels.cpu())
    cgn.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


# --------------------------------------------------------------------------- Table 2


def train_original(data: MnistVariant, config: ClassifierConfig, seed: int = 0) -> nn.Module:
    """*Original*: the CNN on the variant's training images."""
    return fit_classifier(
        _net(config, seed), data.images, data.labels, **_fit_args(config, seed), desc="Original"
    )


def train_augmented(
    data: MnistVariant,
    cgn: CGN,
    config: ClassifierConfig,
    *,
    counterfactual: bool,
    seed: int = 0,
) -> nn.Module:
    """*Original + CGN* (``counterfactual=True``) or *Original + GAN* (``False``).

    Real images keep their labels; generated ones are labelled with the shape
    mechanism's class (for GAN samples all three classes agree anyway).
    """
    fake = generate(
        cgn,
        config.generated,
        counterfactual=counterfactual,
        per_noise=config.per_noise if counterfactual else 1,
        seed=seed,
    )
    images = torch.cat([data.images, fake["images"]])
    labels = torch.cat([data.labels, fake["shape"]])
    desc = "Original + CGN" if counterfactual else "Original + GAN"
    return fit_classifier(_net(config, seed), images, labels, **_fit_args(config, seed), desc=desc)


def _fit_args(config: ClassifierConfig, seed: int) -> dict:
    return {
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": seed,
    }


def irm_environments(name: str, n_envs: int, seed: int = 0) -> list[MnistVariant]:
    """The IRM training environments of App. C.4 for variant ``name``.

    Each environment is a whole version of the training split ("we produce versions of
    double-colored MNIST and Wildlife MNIST with different degree of correlation"): all
    4,000 digits, with correlation ``IRM_ENVIRONMENTS[n_envs][i]`` and its own child
    seed (independent cue draws; environment i of 2 and of 5 share it). Dealing the
    digits out instead left IRM a fifth of Original's steps per epoch with 5
    environments, and it never fit the training set (``docs/cgn-log.md``).
    """
    if n_envs not in IRM_ENVIRONMENTS:
        raise ValueError(f"n_envs must be one of {sorted(IRM_ENVIRONMENTS)}, got {n_envs!r}")
    return [
        make_variant(name, "train", correlation=p, seed=child_seed(seed, "irm-environment", i))
        for i, p in enumerate(IRM_ENVIRONMENTS[n_envs])
    ]


def irm_penalty(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """IRMv1 penalty ‖∇_{w | w=1} R^e(w · Φ)‖² of one environment (Arjovsky et al., 2019)."""
    scale = torch.ones((), device=logits.device, requires_grad=True)
    loss = F.cross_entropy(logits * scale, labels)
    (grad,) = torch.autograd.grad(loss, scale, create_graph=True)
    return grad.pow(2)


def train_irm(envs: Sequence[MnistVariant], config: ClassifierConfig, seed: int = 0) -> nn.Module:
    """IRMv1 on ``envs``: Σ_e R^e + λ Σ_e penalty_e, λ ramped linearly from 0 (App. C.4).

    λ is constant within an epoch ("training episode") and grows linearly from 0
    in the first epoch (plain ERM) to ``config.irm_penalty`` in the last. A ramp
    per step reached λ > 1 within a few steps and collapsed the CNN to a constant
    prediction (zero penalty, 10 % accuracy) on every variant. The final weight is
    not in the paper; the default 10 was chosen by the runs in ``docs/cgn-log.md``.

    Each step takes one batch from every environment. When λ > 1 the loss is
    divided by λ (as in the IRM reference code) so that the step size does not
    grow with the penalty. Returns the CNN in eval mode.
    """
    if len(envs) < 2 or not all(isinstance(e, MnistVariant) for e in envs):
        raise ValueError("IRM needs at least two MnistVariant environments")
    device = get_device()
    net = _net(config, seed).to(device).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    data = [(e.images.to(device), e.labels.to(device)) for e in envs]
    steps = min(len(y) for _, y in data) // config.batch_size
    for epoch in progress(range(config.epochs), desc=f"IRM ({len(envs)} envs)"):
        weight = config.irm_penalty * epoch / max(config.epochs - 1, 1)
        orders = [torch.randperm(len(y), generator=generator) for _, y in data]
        for step in range(steps):
            risk = penalty = torch.zeros((), device=device)
            for (x, y), order in zip(data, orders, strict=True):
                batch = order[step * config.batch_size : (step + 1) * config.batch_size].to(device)
                logits = net(x[batch])
                risk = risk + F.cross_entropy(logits, y[batch])
                penalty = penalty + irm_penalty(logits, y[batch])
            loss = (risk + weight * penalty) / max(1.0, weight)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    if not torch.isfinite(loss):
        raise FloatingPointError("IRM training diverged (loss is not finite)")
    return net.eval()


COLOR_BINS = 8  # Kim et al. quantise each RGB channel of the digit's color into 8 bins


def color_bias(data: MnistVariant) -> torch.Tensor:
    """LNTL's bias label: each image's mean foreground color, every RGB channel cut into
    :data:`COLOR_BINS` bins; ``(N, 3)`` int64.

    Color is what the paper declares spurious for LNTL, on every variant: on Wildlife
    MNIST the label is the mean color of the digit's texture, not the texture itself.
    """
    weight = data.masks.sum((2, 3))
    mean = (data.images * data.masks).sum((2, 3)) / weight.clamp_min(1.0)
    return (mean * COLOR_BINS).long().clamp(0, COLOR_BINS - 1)


class _ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient multiplied by −μ backward (Ganin & Lempitsky, 2015)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mu: float) -> torch.Tensor:
        ctx.mu = mu
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.mu * grad, None


def train_lntl(data: MnistVariant, config: ClassifierConfig, seed: int = 0) -> nn.Module:
    """*LNTL* (Kim et al., CVPR 2019): the CNN learns the label while its features are
    made uninformative of the digit's color (:func:`color_bias`).

    The CNN's convolutional part is the feature extractor f, its two dense layers the
    label head. A bias head h, two convolutions on f's feature map, predicts the three
    quantised color channels. Each step first trains the CNN on cross-entropy minus λ
    times h's entropy (h should be unsure of the color), then trains h to predict the
    color while f receives h's gradient reversed and scaled by μ (f removes what h
    reads). Returns the CNN in eval mode; h is discarded.
    """
    device = get_device()
    net = _net(config, seed).to(device).train()
    split = next(i for i, layer in enumerate(net) if isinstance(layer, nn.Flatten))
    features, label_head = net[:split], net[split:]
    channels = 2 * config.width
    bias_head = nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, 3 * COLOR_BINS),
    ).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    bias_optimiser = torch.optim.Adam(bias_head.parameters(), lr=config.learning_rate)
    x, y, b = data.images.to(device), data.labels.to(device), color_bias(data).to(device)
    generator = torch.Generator().manual_seed(seed)
    for _ in progress(range(config.epochs), desc="LNTL"):
        for batch in torch.randperm(len(y), generator=generator).split(config.batch_size):
            batch = batch.to(device)
            z = features(x[batch])
            log_p = bias_head(z).view(-1, 3, COLOR_BINS).log_softmax(-1)
            negative_entropy = (log_p.exp() * log_p).sum(-1).mean()
            loss = F.cross_entropy(label_head(z), y[batch]) + config.lntl_entropy * negative_entropy
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            z = _ReverseGradient.apply(features(x[batch]), config.lntl_reversal)
            bias_loss = F.cross_entropy(bias_head(z).view(-1, COLOR_BINS), b[batch].view(-1))
            optimiser.zero_grad(set_to_none=True)
            bias_optimiser.zero_grad(set_to_none=True)
            bias_loss.backward()
            # The reversed gradient has no bound: unclipped, μ = 1 blew the features up.
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            bias_optimiser.step()
    if not (torch.isfinite(loss) and torch.isfinite(bias_loss)):
        raise FloatingPointError("LNTL training diverged (loss is not finite)")
    return net.eval()


# --------------------------------------------------------------------------- Table 5


def train_mechanism_classifiers(
    cgn: CGN, config: ClassifierConfig, seed: int = 0
) -> dict[str, nn.Module]:
    """App. H: one CNN per mechanism on counterfactuals alone, each predicting its class.

    Returns ``{"shape": SC, "fg": OCC, "bg": BCC}``; each is invariant to the
    other two mechanisms because their classes are independent of its target.
    """
    fake = generate(
        cgn, config.generated, counterfactual=True, per_noise=config.per_noise, seed=seed
    )
    return {
        part: fit_classifier(
            _net(config, seed),
            fake["images"],
            fake[part],
            **_fit_args(config, seed),
            desc=f"{part} classifier",
        )
        for part in MECHANISMS
    }


__all__ = [
    "COLOR_BINS",
    "IRM_ENVIRONMENTS",
    "MECHANISMS",
    "TABLE5_CORRELATIONS",
    "ClassifierConfig",
    "color_bias",
    "generate",
    "irm_environments",
    "irm_penalty",
    "train_augmented",
    "train_irm",
    "train_lntl",
    "train_mechanism_classifiers",
    "train_original",
]
