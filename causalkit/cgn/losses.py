"""The losses of the MNIST CGN (Sauer & Geiger, ICLR 2021, arXiv:2101.06046, §3.1).

L_shape of Eq. 3 (L_binary and L_mask) on the mask, and the least-squares adversarial loss
that supervises the composite for MNIST. Eq. 3 is read as the text under it says: the
upper hinge is at 1 − τ (μ_mask "in the interval of [0.1, 0.9]"; the printed max(0, μ − τ)
would pin μ_mask at τ), and L_binary is averaged over the pixels (bits per pixel, in
[0, 1]) rather than summed, which only rescales λ_binary. Both match the authors' released
``MaskLoss`` and ``BinaryLoss``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from causalkit.cgn.model import _check_mask, _check_real, _check_tensor, mask_mean

TAU = 0.1  # App. C.1: "We set τ = 0.1 in all experiments"
EPS = 1e-6  # keeps log2 finite where a sigmoid saturates to exactly 0 or 1


class ShapeWeights(NamedTuple):
    """λ_binary and λ_mask of L_shape (the λ_3, λ_4 of Eq. 4)."""

    binary: float
    mask: float


# The paper gives the shape λ's for ImageNet only; the authors' MNIST code weights L_binary
# by 0.3 and uses no L_mask. λ_binary = 1.0 hardens our masks where 0.3 left them soft
# (measured in docs/cgn-log.md); L_mask, zero inside [τ, 1 − τ], keeps the weight 0.5.
MNIST_SHAPE_WEIGHTS = ShapeWeights(binary=1.0, mask=0.5)


def binary_mask_loss(mask: torch.Tensor) -> torch.Tensor:
    """L_binary of Eq. 3: the pixelwise binary entropy of the mask, in bits.

    −m log₂ m − (1 − m) log₂(1 − m) is 1 at m = 0.5 and 0 at m ∈ {0, 1}, so
    minimising it pushes every pixel to background or object. Averaged over the
    pixels (Eq. 3 sums them; see the module docstring) and over the batch (the
    expectation over p(u, y)). Returns a scalar.
    """
    m = _check_mask(mask).clamp(EPS, 1 - EPS)
    entropy = -m * torch.log2(m) - (1 - m) * torch.log2(1 - m)
    return entropy.mean()


def mask_size_loss(mask: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """L_mask of Eq. 3: a hinge that keeps each image's μ_mask inside [τ, 1 − τ].

    max(0, τ − μ) + max(0, μ − (1 − τ)), averaged over the batch. It is zero
    inside the interval and rules out the trivial all-0 and all-1 masks; τ = 0.1
    means the object covers 10–90 % of the image (App. C.1). Returns a scalar.
    """
    tau = _check_real("tau", tau, 0.0, 0.5)
    mu = mask_mean(mask)
    return (F.relu(tau - mu) + F.relu(mu - (1 - tau))).mean()


def shape_loss(
    mask: torch.Tensor, tau: float = TAU, weights: ShapeWeights = MNIST_SHAPE_WEIGHTS
) -> torch.Tensor:
    """L_shape of Eq. 3 with weights: λ_binary · L_binary + λ_mask · L_mask (cf. Eq. 4).

    ``weights`` is a (binary, mask) pair of non-negative λ's; the default is
    :data:`MNIST_SHAPE_WEIGHTS` (the paper states λ's for ImageNet only).
    """
    if not (isinstance(weights, tuple) and len(weights) == 2):
        raise ValueError(f"weights must be a (binary, mask) pair, got {weights!r}")
    binary = _check_real("weights[0] (λ_binary)", weights[0], 0.0, math.inf)
    size = _check_real("weights[1] (λ_mask)", weights[1], 0.0, math.inf)
    return binary * binary_mask_loss(mask) + size * mask_size_loss(mask, tau)


# Least-squares GAN targets (1 real, 0 fake), as the released MNIST training uses
# (MSE on the discriminator output); the paper names no GAN objective.
def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the MNIST adversarial loss (§3.1): (D(x_gen) − 1)²."""
    fake_logits = _check_tensor("fake_logits", fake_logits, 1)
    return F.mse_loss(fake_logits, torch.ones_like(fake_logits))


def discriminator_adversarial_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """The discriminator's side: ½[(D(x) − 1)² + D(x_gen)²]; detach x_gen first."""
    real_logits = _check_tensor("real_logits", real_logits, 1)
    fake_logits = _check_tensor("fake_logits", fake_logits, 1)
    real = F.mse_loss(real_logits, torch.ones_like(real_logits))
    fake = F.mse_loss(fake_logits, torch.zeros_like(fake_logits))
    return (real + fake) / 2
