"""The panels' shared picture helpers: PNG encoding, image conversion, captioned sheets."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from widgets.render import (
    CAPTION,
    FRAME,
    GAP,
    Tile,
    rgba_png,
    sheet_png,
    tile_sheet,
    to_uint8,
    upscale,
)


def test_rgba_png_roundtrip_and_validation():
    pixels = np.zeros((4, 5, 4), np.uint8)
    pixels[1, 2] = [255, 0, 0, 255]
    decoded = np.asarray(Image.open(io.BytesIO(rgba_png(pixels))))
    assert np.array_equal(decoded, pixels)
    with pytest.raises(ValueError, match="uint8"):
        rgba_png(np.zeros((4, 5), np.float32))


def test_to_uint8_takes_grey_channel_first_and_rgb_images():
    grey = torch.tensor([[0.0, 1.0], [0.5, 2.0]])
    assert to_uint8(grey)[..., 0].tolist() == [[0, 255], [128, 255]]
    chw = torch.zeros(3, 2, 2)
    chw[0] = 1
    assert to_uint8(chw)[0, 0].tolist() == [255, 0, 0]
    assert to_uint8(torch.ones(1, 2, 2)).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="grey or RGB"):
        to_uint8(np.zeros((2, 2, 4)))


def test_upscale_repeats_pixels():
    big = np.asarray(upscale(np.eye(2), 6))
    assert big.shape == (6, 6, 3)
    assert (big[:3, :3] == 255).all() and (big[:3, 3:] == 0).all()


def test_tile_sheet_places_each_tile_under_its_caption_and_reports_origins():
    red = Image.new("RGB", (10, 8), (255, 0, 0))
    blue = Image.new("RGB", (4, 12), (0, 0, 255))
    sheet, origins = tile_sheet(
        [[Tile(red, "a"), Tile(blue, "b")], [None, Tile(red, frame=(0, 255, 0))]]
    )
    assert origins[0] == [(GAP, CAPTION), (GAP + 10 + GAP, CAPTION)]
    x, y = origins[1][1]
    assert y == CAPTION + 12 + GAP + CAPTION  # row 0 is as tall as its tallest tile
    pixels = np.asarray(sheet)
    assert pixels[CAPTION, GAP].tolist() == [255, 0, 0]
    assert pixels[y - 2, x].tolist() == [0, 255, 0]  # the frame around the framed tile
    assert pixels[origins[1][0][1], origins[1][0][0]].tolist() == [255, 255, 255]  # blank cell
    assert pixels[y + 8 + FRAME - 1, x].tolist() == [0, 255, 0]  # its bottom edge is not clipped
    assert pixels[y + 8 + FRAME, x].tolist() == [255, 255, 255]
    assert sheet.size == (GAP + 10 + GAP + 10 + GAP, y + 8 + GAP)
    assert sheet_png(sheet).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="at least one tile"):
        tile_sheet([])
    narrow, _ = tile_sheet([[Tile(red, frame=(0, 255, 0)), Tile(red, frame=(0, 255, 0))]], gap=4)
    between = np.asarray(narrow)[CAPTION + 4, 4 + 10 : 4 + 10 + 4]  # the gap between the two
    assert between.tolist() == [[0, 255, 0], [255, 255, 255], [255, 255, 255], [0, 255, 0]]
    with pytest.raises(ValueError, match="gap of at least 3"):
        tile_sheet([[Tile(red, frame=(0, 255, 0)), Tile(blue)]], gap=2)
