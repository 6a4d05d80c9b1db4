"""Counterfactual Generative Networks: Axel Sauer and Andreas Geiger, ICLR 2021.

Paper: https://arxiv.org/abs/2101.06046 (notebook ``notebooks/05_cgn.ipynb``).

* ``experiment.py``: ``PRESETS``, ``config``, ``result`` and ``Result`` (the trained CGN per
  MNIST variant, Table 2, Table 5 and the ablation, each cached).
* ``model.py``: the mechanisms of App. B, the composer (Eq. 2), μ_mask, the discriminator,
  counterfactual grids (Fig. 3).
* ``losses.py``: L_shape (Eq. 3) and the adversarial loss for MNIST (§3.1).
* ``train.py``: training a CGN on one MNIST variant (§3.1).
* ``variants.py``: colored, double-colored and Wildlife MNIST (App. A.2).
* ``classifiers.py``: Original, IRM, LNTL, Original + GAN / CGN (Table 2) and the mechanism
  classifiers of Table 5.
* ``irm_study.py``: ``python -m causalkit.cgn.irm_study``, IRM with one setting changed per row.
"""

from causalkit.cgn.experiment import PRESETS, CgnConfig, Result, config, result
from causalkit.cgn.losses import (
    MNIST_SHAPE_WEIGHTS,
    TAU,
    ShapeWeights,
    binary_mask_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    mask_size_loss,
    shape_loss,
)
from causalkit.cgn.model import (
    CGN,
    Discriminator,
    PatchShuffle,
    ShapeMechanism,
    TextureMechanism,
    compose,
    counterfactual_grid,
    mask_mean,
    orient_roles,
    swap_roles,
)
from causalkit.cgn.variants import (
    BG_COLORS,
    FG_COLORS,
    NO_CLASS,
    TEXTURE_KINDS,
    VARIANTS,
    MnistVariant,
    TextureFamily,
    make_variant,
    sample_texture,
    texture_bank,
)

__all__ = [
    "BG_COLORS",
    "CGN",
    "FG_COLORS",
    "MNIST_SHAPE_WEIGHTS",
    "NO_CLASS",
    "PRESETS",
    "TAU",
    "TEXTURE_KINDS",
    "VARIANTS",
    "CgnConfig",
    "Discriminator",
    "MnistVariant",
    "PatchShuffle",
    "Result",
    "ShapeMechanism",
    "ShapeWeights",
    "TextureFamily",
    "TextureMechanism",
    "binary_mask_loss",
    "compose",
    "config",
    "counterfactual_grid",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "make_variant",
    "mask_mean",
    "mask_size_loss",
    "orient_roles",
    "result",
    "sample_texture",
    "shape_loss",
    "swap_roles",
    "texture_bank",
]
