"""Pictures for panels: PNG encoding, blitted matplotlib frames, and captioned image sheets.

Every panel draws through these, so tiles, gaps, captions and the font look the same in
each, and a change of style is made once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

GAP = 6  # white space between tiles and around a sheet
CAPTION = 16  # height of the caption band above a tile
FRAME = 2  # a highlight frame's widest; it stays inside the gap so framed neighbours stay apart
FONT = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 11)
BLACK = (0, 0, 0)
WHITE = (255, 255, 255)
Colour = tuple[int, int, int]


def rgba_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode an (H, W, 3|4) uint8 array as PNG; a low compression level keeps panels fast."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3|4) uint8 array, got {pixels.dtype} {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png", compress_level=compress_level)
    return buffer.getvalue()


def sheet_png(sheet: Image.Image) -> bytes:
    """A PIL sheet as PNG bytes."""
    return rgba_png(np.asarray(sheet.convert("RGB")))


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(H, W), (1|3, H, W) or (H, W, 3) values in [0, 1] (or uint8) as an (H, W, 3) uint8 array."""
    if isinstance(image, torch.Tensor):
        image = image.detach()
        if image.ndim == 3 and image.shape[0] in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.cpu().numpy()
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8:
        pixels = (np.clip(pixels, 0, 1) * 255).round().astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected a grey or RGB image, got shape {np.shape(image)}")
    return pixels


def upscale(image: torch.Tensor | np.ndarray, size: int | tuple[int, int]) -> Image.Image:
    """An image (see :func:`to_uint8`) scaled to ``size`` pixels with nearest neighbours."""
    width, height = (size, size) if isinstance(size, int) else size
    return Image.fromarray(to_uint8(image)).resize((width, height), Image.NEAREST)


@dataclass(frozen=True)
class Tile:
    """One picture of a sheet: the image already at display size, a caption, an optional frame."""

    image: Image.Image
    caption: str = ""
    frame: Colour | None = None


def tile_sheet(
    rows: Sequence[Sequence[Tile | None]], gap: int = GAP, caption: int = CAPTION
) -> tuple[Image.Image, list[list[tuple[int, int]]]]:
    """Tiles laid out in rows, each under its caption; ``None`` leaves a cell blank.

    Every cell of a column is as wide as the widest tile in it, and every row as tall as
    its tallest tile. Returns the sheet and the top-left pixel of each tile's image, so a
    browser test (or a click handler) can find a tile.
    """
    columns = max((len(row) for row in rows), default=0)
    if not columns:
        raise ValueError("a sheet needs at least one tile")
    widths = [
        max((row[j].image.width for row in rows if j < len(row) and row[j]), default=0)
        for j in range(columns)
    ]
    heights = [max((t.image.height for t in row if t), default=0) for row in rows]
    xs = np.cumsum([gap] + [w + gap for w in widths[:-1]]).tolist()
    ys = np.cumsum([0] + [caption + h + gap for h in heights[:-1]]).tolist()
    frame = min(FRAME, (gap - 1) // 2)
    if frame < 1 and any(tile and tile.frame for row in rows for tile in row):
        raise ValueError(f"framed tiles need a gap of at least 3 pixels, got {gap}")
    size = (xs[-1] + widths[-1] + gap, ys[-1] + caption + heights[-1] + gap)
    sheet = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(sheet)
    origins = []
    for row, y in zip(rows, ys, strict=True):
        origins.append([])
        for tile, x in zip(row, xs, strict=False):
            top = y + caption
            origins[-1].append((x, top))
            if tile is None:
                continue
            if tile.frame is not None:
                draw.rectangle(
                    (
                        x - frame,
                        top - frame,
                        x + tile.image.width + frame - 1,
                        top + tile.image.height + frame - 1,
                    ),
                    fill=tile.frame,
                )
            sheet.paste(tile.image, (x, top))
            if tile.caption:
                draw.text((x, y + 2), tile.caption, fill=BLACK, font=FONT)
    return sheet, origins


class BlitFigure:
    """A figure whose static part is drawn once; each frame redraws only the moving artists.

    Redrawing a whole matplotlib figure costs tens of milliseconds; a panel that moves
    a marker needs a few. Pass the artists that change between frames: they are
    excluded from the background and drawn on top of it in :meth:`png`.
    """

    def __init__(self, fig: Figure, dynamic: list[Artist], dpi: int = 80) -> None:
        self.fig, self.dynamic = fig, list(dynamic)
        fig.set_dpi(dpi)
        for artist in self.dynamic:
            artist.set_animated(True)
        self.canvas = FigureCanvasAgg(fig)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def png(self) -> bytes:
        """The background with the dynamic artists drawn in their current state, as PNG."""
        self.canvas.restore_region(self.background)
        for artist in self.dynamic:
            self.fig.draw_artist(artist)
        return rgba_png(np.asarray(self.canvas.buffer_rgba()))
