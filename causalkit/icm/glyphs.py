"""Symbols the experts never saw (Fig. 7, 8): letters and signs rendered from fonts on the machine.

Omniglot cannot be had offline, so the stand-in is glyphs from the DejaVu fonts that
matplotlib ships, drawn the way MNIST digits were prepared: the glyph scaled into a
20x20 box, centred by its centre of mass in 28x28, then zero-padded to 32x32 (§4).
No digits: the point is transfer to shapes outside the training distribution.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from causalkit.icm.mechanisms import pad_to_32

SYMBOLS = "ABDEFGHKMNPQRSTWXYZabdefghkmnpqrtwyz#$%&@?+=<>{}§¶ΩΣΔΨλπβ"
FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf")
_BOX = 20


def _font_path(name: str) -> Path:
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    if not path.is_file():
        raise FileNotFoundError(f"matplotlib's font {name} is missing at {path}")
    return path


def _render(symbol: str, font_name: str) -> np.ndarray:
    font = ImageFont.truetype(str(_font_path(font_name)), 64)
    canvas = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(canvas).text((32, 16), symbol, fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"{font_name} draws nothing for {symbol!r}")
    glyph = canvas.crop(box)
    scale = _BOX / max(glyph.size)
    size = (max(1, round(glyph.size[0] * scale)), max(1, round(glyph.size[1] * scale)))
    glyph = np.asarray(glyph.resize(size, Image.LANCZOS), dtype=np.float32) / 255
    # MNIST's recipe: place the glyph so that its centre of mass is the image centre.
    rows, cols = np.indices(glyph.shape)
    mass = glyph.sum()
    top = round(14 - float((rows * glyph).sum() / mass))
    left = round(14 - float((cols * glyph).sum() / mass))
    top, left = np.clip(top, 0, 28 - size[1]), np.clip(left, 0, 28 - size[0])
    image = np.zeros((28, 28), np.float32)
    image[top : top + size[1], left : left + size[0]] = glyph
    return image.clip(0, 1)


@lru_cache(maxsize=4)
def glyph_images(fonts: tuple[str, ...] = FONTS) -> tuple[torch.Tensor, tuple[str, ...]]:
    """Every symbol of :data:`SYMBOLS` in every font: ((N, 1, 32, 32) images in [0, 1], names)."""
    names = tuple(f"{s} ({f.split('.')[0]})" for f in fonts for s in SYMBOLS)
    images = np.stack([_render(s, f) for f in fonts for s in SYMBOLS])
    return pad_to_32(torch.from_numpy(images)), names
