"""Counterfactual Generative Networks (Sauer & Geiger, ICLR 2021).

The colored, double-colored and Wildlife MNIST variants of App. A.2
(:mod:`~causalkit.cgn.variants`), the MNIST CGN (:mod:`~causalkit.cgn.model`), its
training (:mod:`~causalkit.cgn.training`), the classifiers of Table 2 and Table 5
(:mod:`~causalkit.cgn.classifiers`) and the notebook's cached experiments
(:mod:`~causalkit.cgn.experiment`).
"""

from causalkit.cgn.model import (
    CGN,
    MNIST_SHAPE_WEIGHTS,
    TAU,
    Discriminator,
    PatchShuffle,
    ShapeMechanism,
    ShapeWeights,
    TextureMechanism,
    binary_mask_loss,
    compose,
    counterfactual_grid,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    mask_mean,
    mask_size_loss,
    orient_roles,
    shape_loss,
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
    "TAU",
    "TEXTURE_KINDS",
    "VARIANTS",
    "Discriminator",
    "MnistVariant",
    "PatchShuffle",
    "ShapeMechanism",
    "ShapeWeights",
    "TextureFamily",
    "TextureMechanism",
    "binary_mask_loss",
    "compose",
    "counterfactual_grid",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "make_variant",
    "mask_mean",
    "mask_size_loss",
    "orient_roles",
    "sample_texture",
    "shape_loss",
    "swap_roles",
    "texture_bank",
]
