"""Counterfactual Generative Networks (Sauer & Geiger, ICLR 2021).

So far: the colored, double-colored and Wildlife MNIST variants of App. A.2.
"""

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
    "FG_COLORS",
    "NO_CLASS",
    "TEXTURE_KINDS",
    "VARIANTS",
    "MnistVariant",
    "TextureFamily",
    "make_variant",
    "sample_texture",
    "texture_bank",
]
