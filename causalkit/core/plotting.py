"""Plotting helpers shared by notebooks and panels."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image


def rgba_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode an (H, W, 3|4) uint8 array as PNG; a low compression level keeps panels fast."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3|4) uint8 array, got {pixels.dtype} {pixels.shape}")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="png", compress_level=compress_level)
    return buffer.getvalue()


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
