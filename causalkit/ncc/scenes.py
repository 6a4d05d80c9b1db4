"""§4 of the NCC paper on a procedural world: causal signals in sets of static images.

The paper (§4.1) analyses MSCOCO images with an ImageNet ResNet-18 and a Pascal VOC
classifier; neither can be had offline, so this module rebuilds the experiment on a
world of small scenes in which the causal dispositions are known *by construction*:

* **causes of presence (context).** Each category has a scene element that makes it
  likely, drawn first and independently of the objects: a road makes a car likely,
  water a boat, grass a cow, rails a train, a clear sky a bird, a night sky a lamp.
  The context raises P(presence) but never fixes it (objects also appear without it,
  and the context often appears without them), and it lies outside the object's box
  because objects are opaque sprites that fill their box.
* **effects of presence.** Each object, when present, brings parts painted inside its
  box (wheels, a sail, wings, a bulb, spots, windows, ...) and some effects right next
  to it (a car's shadow, a boat's wake, a lamp's light cone, a train's smoke). Each
  effect appears with probability ``effect_prob`` given the object, never without it.
* **distractors.** Clouds, rocks and houses, unrelated to every category.

On this world we follow §4.2-4.4: a small CNN's 512 pre-ReLU feature scores f and
its category log-odds c; for each (feature l, category k) a causal score from a
scorer (NCC, or the paper's sanity checks: the correlation and its absolute value)
on the scatter {(f_jl, c_jk)}; object-only and context-only blackouts (Fig. 5); the
object- and context-feature ratios of §4.3; and the Fig. 6 comparison of the top 1 %
anticausal and causal features, counted over categories with a binomial test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import binomtest
from torch import nn

from causalkit.core import cached, choose_preset, get_device, progress, seed_everything
from causalkit.ncc.model import check_pairs

CODE_VERSION = "1"

CATEGORIES: tuple[str, ...] = ("car", "boat", "bird", "lamp", "cow", "train")

# The generative elements of a scene, by id; `Scenes.labels` says which one painted
# each pixel last (so an element's visible pixels are `labels == ELEMENTS.index(name)`).
ELEMENTS: tuple[str, ...] = (
    "clear_sky",
    "overcast_sky",
    "night_sky",
    "soil",
    "grass",
    "water",
    "road",
    "rails",
    "cloud",
    "rock",
    "house",
    "shadow",
    "wake",
    "light_cone",
    "smoke",
    *CATEGORIES,  # the object bodies
    "wheels",
    "sail",
    "wings",
    "beak",
    "bulb",
    "spots",
    "udder",
    "windows",
)

# Ground truth for the narrative: what causes each category's presence, what it causes.
CAUSES: dict[str, tuple[str, ...]] = {
    "car": ("road",),
    "boat": ("water",),
    "bird": ("clear_sky",),
    "lamp": ("night_sky",),
    "cow": ("grass",),
    "train": ("rails",),
}
EFFECTS: dict[str, tuple[str, ...]] = {
    "car": ("wheels", "shadow"),
    "boat": ("sail", "wake"),
    "bird": ("wings", "beak"),
    "lamp": ("bulb", "light_cone"),
    "cow": ("spots", "udder"),
    "train": ("windows", "smoke"),
}
# The effects painted outside the box, right next to it (the rest are parts inside it).
ADJACENT_EFFECTS: tuple[str, ...] = ("shadow", "wake", "light_cone", "smoke")
DISTRACTORS: tuple[str, ...] = ("cloud", "rock", "house")

_GROUND_CONTEXTS = ("grass", "water", "road", "rails")  # painted in this order
_SKY_STATES = ("clear_sky", "overcast_sky", "night_sky")
_SKY_COLOURS = ((0.55, 0.75, 0.95), (0.70, 0.70, 0.72), (0.08, 0.10, 0.25))
_BODY_COLOURS = {
    "car": (0.85, 0.15, 0.15),
    "boat": (0.55, 0.35, 0.15),
    "bird": (0.30, 0.25, 0.30),
    "lamp": (0.45, 0.45, 0.50),
    "cow": (0.92, 0.90, 0.85),
    "train": (0.10, 0.40, 0.25),
}
# Box (width, height) ranges at 32 x 32, scaled with the image side; inclusive.
_BOX_SIZES = {
    "car": ((8, 12), (4, 6)),
    "boat": ((7, 11), (5, 7)),
    "bird": ((4, 6), (3, 4)),
    "lamp": ((3, 5), (3, 5)),
    "cow": ((7, 10), (5, 7)),
    "train": ((11, 15), (5, 7)),
}
_PAINT_ORDER = ("train", "cow", "car", "boat", "lamp", "bird")  # large first, small on top


# ------------------------------------------------------------------ the world


@dataclass(frozen=True)
class SceneWorld:
    """The procedural world's knobs; every category shares them.

    P(category k present) = base_presence + context_lift * C_k * (0.5 + 0.5 * A_k),
    where C_k says whether k's causal context is in the scene and A_k in [0, 1] is how
    much of it there is (the strip's height, or the sky's share of the image).
    """

    size: int = 32
    context_prob: float = 0.4  # each ground strip (road, water, grass, rails)
    sky_probs: tuple[float, float, float] = (0.4, 0.3, 0.3)  # clear, overcast, night
    base_presence: float = 0.1
    context_lift: float = 0.55
    effect_prob: float = 0.85
    max_distractors: int = 2  # per kind: clouds, rocks (a house: at most one)
    noise: float = 0.03

    def __post_init__(self) -> None:
        if not 24 <= self.size <= 96:
            raise ValueError(f"size must be in [24, 96] pixels, got {self.size}")
        for name in ("context_prob", "base_presence", "effect_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}")
        if not 0 <= self.base_presence + self.context_lift <= 1 or self.context_lift < 0:
            raise ValueError(
                "base_presence + context_lift must be a probability and context_lift >= 0, "
                f"got {self.base_presence} + {self.context_lift}"
            )
        probs = np.asarray(self.sky_probs, dtype=float)
        if probs.shape != (3,) or (probs < 0).any() or abs(probs.sum() - 1) > 1e-9:
            raise ValueError(
                f"sky_probs must be 3 probabilities summing to 1, got {self.sky_probs}"
            )
        if self.max_distractors < 0:
            raise ValueError(f"max_distractors must be >= 0, got {self.max_distractors}")
        if not 0 <= self.noise < 0.5:
            raise ValueError(f"noise must be in [0, 0.5), got {self.noise}")


@dataclass(frozen=True)
class Scenes:
    """A batch of scenes with everything the generator knows about them."""

    images: torch.Tensor  # (N, 3, S, S) float32 in [0, 1]
    presence: torch.Tensor  # (N, K) bool, K = len(CATEGORIES)
    boxes: torch.Tensor  # (N, K, 4) long: top, left, bottom, right (exclusive); 0 if absent
    labels: torch.Tensor  # (N, S, S) uint8: the ELEMENTS id that painted each pixel last
    context: torch.Tensor  # (N, K) bool: category k's causal context is in the scene

    def element_mask(self, name: str) -> torch.Tensor:
        """(N, S, S) bool: the visible pixels of one generative element."""
        if name not in ELEMENTS:
            raise ValueError(f"unknown scene element {name!r}; choose one of {', '.join(ELEMENTS)}")
        return self.labels == ELEMENTS.index(name)

    def element_strengths(self) -> torch.Tensor:
        """(N, len(ELEMENTS)) float: the visible share of the image each element covers."""
        onehot = torch.nn.functional.one_hot(self.labels.long(), len(ELEMENTS))
        return onehot.float().mean(dim=(1, 2))


def category_index(category: str) -> int:
    """The column of ``category`` in presence labels, boxes and log-odds."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}")
    return CATEGORIES.index(category)


class _Canvas:
    """N images painted at once: every shape is a boolean (N, S, S) mask."""

    def __init__(self, n: int, size: int, rng: np.random.Generator) -> None:
        self.n, self.size, self.rng = n, size, rng
        self.yy, self.xx = np.mgrid[0:size, 0:size]
        self.rgb = np.zeros((n, size, size, 3), dtype=np.float32)
        self.labels = np.zeros((n, size, size), dtype=np.uint8)

    def rect(self, top, left, bottom, right) -> np.ndarray:
        t, x0, b, r = (np.asarray(v)[:, None, None] for v in (top, left, bottom, right))
        return (self.yy >= t) & (self.yy < b) & (self.xx >= x0) & (self.xx < r)

    def disc(self, cy, cx, radius) -> np.ndarray:
        cy, cx, radius = (np.asarray(v, dtype=float)[:, None, None] for v in (cy, cx, radius))
        return (self.yy + 0.5 - cy) ** 2 + (self.xx + 0.5 - cx) ** 2 <= radius**2

    def jitter(self, colour: Sequence[float], amount: float = 0.05) -> np.ndarray:
        base = np.asarray(colour, dtype=np.float32)
        return np.clip(base + self.rng.uniform(-amount, amount, (self.n, 3)), 0, 1).astype(
            np.float32
        )

    def paint(self, mask: np.ndarray, colour: np.ndarray, element: str) -> None:
        """Paint ``mask`` with a per-image colour (N, 3), a fixed (3,) one, or per pixel."""
        colour = np.asarray(colour, dtype=np.float32)
        if colour.ndim == 1:
            colour = colour[None, None, None, :]
        elif colour.ndim == 2:
            colour = colour[:, None, None, :]
        self.rgb = np.where(mask[..., None], colour, self.rgb)
        self.labels[mask] = ELEMENTS.index(element)

    def uniform(self, low, high) -> np.ndarray:
        """Uniform reals in [low, high), per image; low/high may be arrays."""
        return self.rng.uniform(np.broadcast_to(low, (self.n,)), np.broadcast_to(high, (self.n,)))

    def integers(self, low, high) -> np.ndarray:
        """Uniform integers in [low, high] inclusive, per image; low/high may be arrays."""
        low, high = np.broadcast_to(low, (self.n,)), np.broadcast_to(high, (self.n,))
        return np.floor(self.rng.uniform(low, np.maximum(high, low) + 1)).astype(int)


def _scaled(value: float, size: int) -> int:
    return max(1, round(value * size / 32))


def _paint_background(cv: _Canvas, world: SceneWorld) -> tuple[np.ndarray, dict, dict]:
    """Sky and soil, then the ground strips (the causal contexts); returns their latents."""
    s = world.size
    h_lo, h_hi = _scaled(11, s), _scaled(17, s)
    horizon = cv.integers(h_lo, h_hi)
    sky_amount = (horizon - h_lo) / max(h_hi - h_lo, 1)  # more sky, more room for birds/lamps
    sky = cv.rng.choice(3, size=cv.n, p=np.asarray(world.sky_probs))
    sky_rows = cv.yy[None] < horizon[:, None, None]
    for state, (name, colour) in enumerate(zip(_SKY_STATES, _SKY_COLOURS, strict=True)):
        cv.paint(sky_rows & (sky == state)[:, None, None], cv.jitter(colour), name)
    cv.paint(~sky_rows, cv.jitter((0.55, 0.45, 0.30)), "soil")

    strips: dict[str, dict[str, np.ndarray]] = {}
    s_lo, s_hi = _scaled(4, s), _scaled(7, s)
    for name in _GROUND_CONTEXTS:
        present = cv.rng.random(cv.n) < world.context_prob
        height = cv.integers(s_lo, s_hi)
        top = cv.integers(horizon, s - height)
        bottom = top + height
        band = cv.rect(top, np.zeros(cv.n, int), bottom, np.full(cv.n, s)) & present[:, None, None]
        speckle = cv.rng.random((cv.n, s, s)) < 0.25
        row = cv.yy[None] - top[:, None, None]
        if name == "grass":
            base, accent = cv.jitter((0.25, 0.60, 0.20)), np.array([0.15, 0.42, 0.12])
            pattern = speckle
        elif name == "water":
            base, accent = cv.jitter((0.15, 0.35, 0.75)), np.array([0.55, 0.70, 0.95])
            pattern = (row % 3 == 1) & speckle
        elif name == "road":
            base, accent = cv.jitter((0.40, 0.40, 0.42)), np.array([0.95, 0.95, 0.90])
            offset = cv.integers(0, 5)[:, None, None]
            pattern = (row == height[:, None, None] // 2) & (((cv.xx[None] + offset) // 3) % 2 == 0)
        else:  # rails: gravel, two dark rails, ties every three columns
            base, accent = cv.jitter((0.55, 0.48, 0.40)), np.array([0.20, 0.15, 0.12])
            rail = (row == 1) | (row == height[:, None, None] - 2)
            pattern = rail | (
                (cv.xx[None] % 3 == 0) & (row >= 1) & (row <= height[:, None, None] - 2)
            )
        cv.paint(band, base, name)
        cv.paint(band & pattern, accent, name)
        amount = (height - s_lo) / max(s_hi - s_lo, 1)
        strips[name] = {"present": present, "top": top, "bottom": bottom, "amount": amount}
    skies = {
        "clear_sky": {"present": sky == 0, "amount": sky_amount},
        "night_sky": {"present": sky == 2, "amount": sky_amount},
    }
    return horizon, strips, skies


def _paint_distractors(cv: _Canvas, world: SceneWorld, horizon: np.ndarray) -> None:
    """Clouds, rocks and houses: scene clutter that no category depends on."""
    s = world.size
    for _ in range(world.max_distractors):
        on = cv.rng.random(cv.n) < 0.5
        cy = cv.uniform(1, np.maximum(horizon - 2, 2))
        cx = cv.uniform(0, s)
        r = cv.uniform(_scaled(1.5, s), _scaled(3, s))
        blob = cv.disc(cy, cx, r) | cv.disc(cy, cx + r, r * 0.8)
        cv.paint(
            blob & on[:, None, None] & (cv.yy[None] < horizon[:, None, None]),
            cv.jitter((0.93, 0.93, 0.95)),
            "cloud",
        )
    for _ in range(world.max_distractors):
        on = cv.rng.random(cv.n) < 0.5
        cy = cv.uniform(horizon + 1, s)
        r = cv.uniform(_scaled(1, s), _scaled(2, s))
        cv.paint(
            cv.disc(cy, cv.uniform(0, s), r) & on[:, None, None],
            cv.jitter((0.5, 0.5, 0.5), 0.15),
            "rock",
        )
    if world.max_distractors:
        on = cv.rng.random(cv.n) < 0.3
        w, h = cv.integers(_scaled(4, s), _scaled(7, s)), cv.integers(_scaled(4, s), _scaled(8, s))
        bottom = cv.integers(horizon + 1, horizon + _scaled(3, s))
        left = cv.integers(0, s - w)
        house = cv.rect(bottom - h, left, bottom, left + w) & on[:, None, None]
        cv.paint(house, cv.rng.uniform(0.2, 0.9, (cv.n, 3)).astype(np.float32), "house")


def _place_boxes(cv: _Canvas, world: SceneWorld, horizon, strips) -> dict[str, np.ndarray]:
    """Box (top, left, bottom, right) per category: ground objects stand on their context."""
    s = world.size
    boxes = {}
    for name in CATEGORIES:
        (w_lo, w_hi), (h_lo, h_hi) = _BOX_SIZES[name]
        w = cv.integers(_scaled(w_lo, s), _scaled(w_hi, s))
        h = cv.integers(_scaled(h_lo, s), _scaled(h_hi, s))
        if name in ("bird", "lamp"):  # in the sky, below the top edge
            top = cv.integers(1, np.maximum(horizon - h - 1, 1))
            bottom = top + h
        else:
            context = CAUSES[name][0]
            strip = strips[context]
            on_strip = cv.integers(
                strip["top"] + (strip["bottom"] - strip["top"]) // 2, strip["bottom"]
            )
            anywhere = cv.integers(horizon + _scaled(3, s), s)
            bottom = np.where(strip["present"], on_strip, anywhere)
            top = np.maximum(bottom - h, 0)
        left = cv.integers(0, s - w)
        boxes[name] = np.stack([top, left, bottom, left + w], axis=1)
    return boxes


def _paint_adjacent_effects(cv: _Canvas, world: SceneWorld, boxes, present, effect_on) -> None:
    """Effects of presence that lie right next to the box: shadow, wake, light cone, smoke."""
    s = world.size
    # Shadow: the ground under and just right of the car, darkened.
    t, x0, b, r = boxes["car"].T
    depth = cv.integers(1, _scaled(2, s))
    mask = (
        cv.rect(b, x0 + 1, b + depth, r + 1) & (present["car"] & effect_on["shadow"])[:, None, None]
    )
    cv.paint(mask, cv.rgb * 0.35, "shadow")
    # Wake: white streaks beside the boat's waterline, both sides.
    t, x0, b, r = boxes["boat"].T
    reach = cv.integers(_scaled(2, s), _scaled(4, s))
    line = np.maximum(b - _scaled(2, s), t)
    sides = cv.rect(line, x0 - reach, b, x0) | cv.rect(line, r, b, r + reach)
    mask = sides & (cv.xx[None] % 2 == 0) & (present["boat"] & effect_on["wake"])[:, None, None]
    cv.paint(mask, np.array([0.92, 0.96, 1.0]), "wake")
    # Light cone: a widening pale-yellow triangle under the lamp, twice its height long.
    t, x0, b, r = boxes["lamp"].T
    h, cx = (b - t)[:, None, None], ((x0 + r) / 2)[:, None, None]
    depth = cv.yy[None] - b[:, None, None]
    cone = (
        (depth >= 0)
        & (depth < 2 * h)
        & (np.abs(cv.xx[None] + 0.5 - cx) <= (r - x0)[:, None, None] / 2 + 0.5 * depth)
    )
    mask = cone & (present["lamp"] & effect_on["light_cone"])[:, None, None]
    cv.paint(
        mask, 0.45 * cv.rgb + 0.55 * np.array([1.0, 0.95, 0.5], dtype=np.float32), "light_cone"
    )
    # Smoke: a grey puff above the locomotive's front.
    t, x0, b, r = boxes["train"].T
    radius = cv.uniform(_scaled(1.5, s), _scaled(2.5, s))
    puff = cv.disc(t - radius + 0.5, x0 + _scaled(2, s), radius) & (cv.yy[None] < t[:, None, None])
    cv.paint(
        puff & (present["train"] & effect_on["smoke"])[:, None, None],
        cv.jitter((0.6, 0.6, 0.6)),
        "smoke",
    )


def _paint_object(cv: _Canvas, world: SceneWorld, name: str, box, present, effect_on) -> None:
    """The opaque body filling the box, then its parts (effects of presence inside the box)."""
    s = world.size
    t, x0, b, r = box.T
    inside = cv.rect(t, x0, b, r) & present[:, None, None]
    cv.paint(inside, cv.jitter(_BODY_COLOURS[name], 0.08), name)
    y, x = cv.yy[None], cv.xx[None]
    T, L, B, R = (v[:, None, None] for v in (t, x0, b, r))
    cx = (L + R) / 2
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if name == "car":
        rad = np.full(cv.n, 0.45 * _scaled(2.5, s))
        wheels = cv.disc(b - rad, x0 + 2 * rad, rad) | cv.disc(b - rad, r - 2 * rad, rad)
        parts["wheels"] = (wheels, np.array([0.05, 0.05, 0.05]))
    elif name == "boat":
        sail = (y < B - _scaled(2, s)) & (np.abs(x + 0.5 - cx) <= 0.6 * (y - T + 1))
        parts["sail"] = (sail, np.array([0.97, 0.97, 0.97]))
    elif name == "bird":
        wings = np.abs((y - T) - np.abs(x + 0.5 - cx) * (B - T) / (R - L)) < 0.6
        parts["wings"] = (wings, np.array([0.75, 0.72, 0.70]))
        parts["beak"] = ((x == R - 1) & (y == (T + B) // 2), np.array([1.0, 0.6, 0.1]))
    elif name == "lamp":
        parts["bulb"] = (
            cv.disc(b - 1, (x0 + r) / 2, np.full(cv.n, 0.4 * _scaled(3, s))),
            np.array([1.0, 0.9, 0.3]),
        )
    elif name == "cow":
        spots = np.zeros_like(inside)
        for _ in range(3):
            cy, cxs = cv.uniform(t, b), cv.uniform(x0, r)
            spots |= cv.disc(cy, cxs, np.full(cv.n, _scaled(1, s)))
        parts["spots"] = (spots, np.array([0.08, 0.08, 0.08]))
        parts["udder"] = ((y == B - 1) & (np.abs(x + 0.5 - cx) <= 1), np.array([0.95, 0.6, 0.65]))
    else:  # train
        windows = (y >= T + 1) & (y < T + 1 + _scaled(2, s)) & ((x - L) % 3 == 1) & (x < R - 1)
        parts["windows"] = (windows, np.array([0.70, 0.85, 0.95]))
    for part, (mask, colour) in parts.items():
        cv.paint(inside & mask & effect_on[part][:, None, None], colour, part)


def render_scenes(world: SceneWorld, n: int, seed: int | Sequence[int]) -> Scenes:
    """Draw ``n`` scenes, seeded and vectorised over the batch.

    Order of the generative process (and of painting): sky and soil, the causal
    contexts (ground strips, sky state), distractors, each category's presence given
    its context, its box (ground objects stand on their context when it is there),
    the effects next to the box, and finally the opaque objects with their parts.
    ``seed`` is anything ``np.random.default_rng`` takes (an int, or a list of ints for
    independent streams: the study draws training scenes from [seed, 0] and analysis
    scenes from [seed, 1]).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    cv = _Canvas(int(n), world.size, rng)
    horizon, strips, skies = _paint_background(cv, world)
    _paint_distractors(cv, world, horizon)
    contexts = {**strips, **skies}
    present, context = {}, {}
    for name in CATEGORIES:
        ctx = contexts[CAUSES[name][0]]
        p = world.base_presence + world.context_lift * ctx["present"] * (0.5 + 0.5 * ctx["amount"])
        present[name] = rng.random(cv.n) < p
        context[name] = ctx["present"]
    boxes = _place_boxes(cv, world, horizon, strips)
    effect_on = {e: rng.random(cv.n) < world.effect_prob for k in CATEGORIES for e in EFFECTS[k]}
    _paint_adjacent_effects(cv, world, boxes, present, effect_on)
    for name in _PAINT_ORDER:
        _paint_object(cv, world, name, boxes[name], present[name], effect_on)
    rgb = np.clip(cv.rgb + rng.normal(0, world.noise, cv.rgb.shape), 0, 1).astype(np.float32)
    presence = np.stack([present[k] for k in CATEGORIES], axis=1)
    box_array = np.stack([boxes[k] for k in CATEGORIES], axis=1) * presence[..., None]
    return Scenes(
        images=torch.from_numpy(rgb).permute(0, 3, 1, 2).contiguous(),
        presence=torch.from_numpy(presence),
        boxes=torch.from_numpy(box_array).long(),
        labels=torch.from_numpy(cv.labels),
        context=torch.from_numpy(np.stack([context[k] for k in CATEGORIES], axis=1)),
    )


def box_masks(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(N, K, 4) boxes -> (N, K, S, S) bool masks of their pixels (an absent box is empty)."""
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape (N, K, 4), got {tuple(boxes.shape)}")
    grid = torch.arange(size, device=boxes.device)
    top, left, bottom, right = (boxes[..., i, None, None] for i in range(4))
    rows = (grid[:, None] >= top) & (grid[:, None] < bottom)
    cols = (grid[None, :] >= left) & (grid[None, :] < right)
    return rows & cols


# ------------------------------------------------------------------ §4.3, Fig. 5: blackouts


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-channel standardisation, as before the feature network (§4.1)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, S, S), got {tuple(images.shape)}")
    return (images - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


def blackouts(normalised: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The object-only and context-only images x^o and x^c of §4.3 (Fig. 5).

    ``mask`` (N, S, S) marks the pixels inside the category-k boxes. x^o zeroes
    every pixel outside them, x^c every pixel inside. The zeroing is applied to
    the *normalised* images, so blacked-out pixels are true zeros for the network
    (the paper's Fig. 5 caption): the channel mean, not black, in colour terms.
    """
    if normalised.ndim != 4 or mask.shape != (normalised.shape[0], *normalised.shape[2:]):
        raise ValueError(
            f"expected images (N, C, S, S) and a mask (N, S, S) to match, "
            f"got {tuple(normalised.shape)} and {tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(f"mask must be boolean, got {mask.dtype}")
    inside = mask[:, None]
    zero = torch.zeros((), dtype=normalised.dtype, device=normalised.device)
    return torch.where(inside, normalised, zero), torch.where(inside, zero, normalised)


def feature_ratios(
    features: torch.Tensor, object_only: torch.Tensor, context_only: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The object-feature and context-feature ratios of §4.3, per feature l.

        s^o_l = Σ_j |f^c_jl − f_jl| / Σ_j |f_jl|   (erase the object: how much moves)
        s^c_l = Σ_j |f^o_jl − f_jl| / Σ_j |f_jl|   (erase the context: how much moves)

    All three arguments are (m, L) feature scores of the same m images: the originals
    f_j, the object-only f^o_j and the context-only f^c_j. A feature that is zero on
    every image has no scale to compare with; it gets ratio 0 rather than a division
    by zero.
    """
    if (
        features.ndim != 2
        or object_only.shape != features.shape
        or context_only.shape != features.shape
    ):
        raise ValueError(
            "features, object_only and context_only must all have the same shape (m, L), got "
            f"{tuple(features.shape)}, {tuple(object_only.shape)}, {tuple(context_only.shape)}"
        )
    scale = features.abs().sum(0)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    object_ratio = torch.where(scale > 0, (context_only - features).abs().sum(0) / safe, 0.0)
    context_ratio = torch.where(scale > 0, (object_only - features).abs().sum(0) / safe, 0.0)
    return object_ratio, context_ratio


# ------------------------------------------------------------------ §4.2: the networks


class SceneNet(nn.Module):
    """Feature extractor f and category classifier c (§4.2), at toy scale.

    The paper's f is an ImageNet ResNet-18's 512 feature scores before the ReLU, and c
    a classifier with two 512-unit hidden layers giving 20 log-odds. Here a small
    conv trunk feeds a fully connected layer of ``width`` units (its pre-ReLU output
    is f; keeping the flattened spatial map lets a unit be a localised, object-like
    detector, §1.2), then ReLU and two ``hidden``-unit layers give the K log-odds.
    Unlike the paper, f and c are trained together on one set of scenes.
    """

    def __init__(self, size: int, channels: Sequence[int], width: int, hidden: int, k: int):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for ch in channels:
            layers += [
                nn.Conv2d(in_ch, ch, 3, padding=1),
                nn.BatchNorm2d(ch),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            in_ch = ch
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        side = size // 2 ** len(channels)
        self.features = nn.Linear(in_ch * side * side, width)
        self.classifier = nn.Sequential(
            nn.ReLU(),
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, k),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(feature scores f before the ReLU, category log-odds c)."""
        f = self.features(self.trunk(x))
        return f, self.classifier(f)


def _check_fraction(fraction: float) -> None:
    if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"the top fraction must be in (0, 1], got {fraction!r}")


@dataclass(frozen=True)
class SceneStudyConfig:
    """One run of the §4 study on the scene world."""

    world: SceneWorld = field(default_factory=SceneWorld)
    n_train: int = 3000  # scenes the networks learn from (the paper's Pascal VOC role)
    n_analysis: int = 1500  # fresh scenes analysed (the paper's MSCOCO role)
    channels: tuple[int, ...] = (16, 32, 64)
    width: int = 512  # feature scores f; top 1 % of 512 = 5 features, as in the paper
    hidden: int = 512
    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    scatter_points: int = 1000  # images per (f_l, c_k) scatter handed to the scorer
    top_fraction: float = 0.01
    wide_fraction: float = 0.2  # the paper's second reading (16 of 20 categories)

    def __post_init__(self) -> None:
        for name in ("n_train", "n_analysis", "width", "hidden", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.scatter_points < 2:
            raise ValueError(f"scatter_points must be at least 2, got {self.scatter_points}")
        if not self.channels or self.world.size % 2 ** len(self.channels):
            raise ValueError(
                f"the image side {self.world.size} must be divisible by 2^len(channels) "
                f"= {2 ** len(self.channels)}"
            )
        _check_fraction(self.top_fraction)
        _check_fraction(self.wide_fraction)


PRESETS = {
    "quick": SceneStudyConfig(),
    "paper": SceneStudyConfig(
        n_train=8000,
        n_analysis=4000,
        channels=(24, 48, 96),
        epochs=10,
        scatter_points=2000,
    ),
}


def scene_study_config(preset: str) -> SceneStudyConfig:
    return choose_preset(PRESETS, preset)


def _analysis_seed(seed: int) -> list[int]:
    return [seed, 1]  # a separate stream from the training scenes' [seed, 0]


def training_scenes(config: SceneStudyConfig, seed: int) -> Scenes:
    """The scenes the networks are trained on."""
    return render_scenes(config.world, config.n_train, [seed, 0])


def analysis_scenes(config: SceneStudyConfig, seed: int) -> Scenes:
    """The fresh scenes §4 analyses (all of them; the study keeps those with an object)."""
    return render_scenes(config.world, config.n_analysis, _analysis_seed(seed))


def _auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula."""
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = torch.empty(len(scores), dtype=torch.float64)
    ranks[scores.argsort(stable=True)] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _train_net(config: SceneStudyConfig, images: torch.Tensor, presence: torch.Tensor, seed: int):
    """Multi-label training of f and c with a binary cross-entropy on the log-odds."""
    device = get_device()
    net = SceneNet(config.world.size, config.channels, config.width, config.hidden, len(CATEGORIES))
    net = net.to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    targets = presence.float()
    losses = []
    steps = [(e, b) for e in range(config.epochs) for b in range(0, len(images), config.batch_size)]
    order = None
    total = 0.0
    for epoch, start in progress(steps, desc="scene CNN"):
        if start == 0:
            order = torch.randperm(len(images), generator=generator)
            net.train()
            total = 0.0
        batch = order[start : start + config.batch_size]
        _, logits = net(images[batch].to(device))
        loss = loss_fn(logits, targets[batch].to(device))
        if not torch.isfinite(loss):
            raise RuntimeError(f"scene CNN training diverged (loss {loss.item()}) in epoch {epoch}")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * len(batch)
        if start + config.batch_size >= len(images):
            losses.append(total / len(images))
    return net.eval(), losses


@torch.no_grad()
def extract(
    net: SceneNet, normalised: torch.Tensor, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature scores f (m, L) and log-odds c (m, K) on the CPU, computed on the device."""
    device = next(net.parameters()).device
    outputs = [
        net(normalised[i : i + batch_size].to(device))
        for i in range(0, len(normalised), batch_size)
    ]
    return torch.cat([f for f, _ in outputs]).cpu(), torch.cat([c for _, c in outputs]).cpu()


def build_scene_features(config: SceneStudyConfig, seed: int) -> dict:
    """Train the networks and compute every feature score §4.2-4.3 needs, in cacheable form.

    Returns the network weights and normalisation, its per-category test AUC, and for
    the analysis scenes that contain at least one object (§4.2: "images containing at
    least one instance"): f and c, the presence labels, the ground-truth element
    strengths, and per category k, for the scenes that contain k, the indices of
    those scenes and the feature scores of their object-only and context-only images.
    """
    seed_everything(seed)
    start = time.perf_counter()
    train = training_scenes(config, seed)
    mean = train.images.mean(dim=(0, 2, 3))
    std = train.images.std(dim=(0, 2, 3))
    net, losses = _train_net(config, normalise(train.images, mean, std), train.presence, seed)
    scenes = analysis_scenes(config, seed)
    normalised = normalise(scenes.images, mean, std)
    features, logodds = extract(net, normalised)
    auc = torch.tensor([_auc(logodds[:, k], scenes.presence[:, k]) for k in range(len(CATEGORIES))])
    keep = scenes.presence.any(dim=1)
    masks = box_masks(scenes.boxes, config.world.size)
    per_category = {}
    for k, name in enumerate(CATEGORIES):
        rows = torch.nonzero(scenes.presence[:, k]).squeeze(1)
        object_only, context_only = blackouts(normalised[rows], masks[rows, k])
        per_category[name] = {
            "rows": rows,  # indices into the analysis scenes
            "object_features": extract(net, object_only)[0],
            "context_features": extract(net, context_only)[0],
        }
    return {
        "net": {k: v.cpu() for k, v in net.state_dict().items()},
        "mean": mean,
        "std": std,
        "losses": torch.tensor(losses),
        "auc": auc,
        "keep": keep,
        "features": features,
        "logodds": logodds,
        "presence": scenes.presence,
        "strengths": scenes.element_strengths(),
        "per_category": per_category,
        "seconds": time.perf_counter() - start,
    }


def cached_scene_features(config: SceneStudyConfig, seed: int) -> dict:
    """:func:`build_scene_features`, trained once per config and seed (then read from the cache)."""
    return cached(
        "ncc-scenes",
        {"config": config, "seed": seed},
        lambda: build_scene_features(config, seed),
        version=CODE_VERSION,
    )


def load_scene_net(config: SceneStudyConfig, state: dict[str, torch.Tensor]) -> SceneNet:
    """The trained networks from cached weights, on the device, in eval mode."""
    net = SceneNet(config.world.size, config.channels, config.width, config.hidden, len(CATEGORIES))
    net.load_state_dict(state)
    return net.to(get_device()).eval()


# ------------------------------------------------------------------ §4.2: causal scores

Scorer = Callable[[torch.Tensor], torch.Tensor]


def _correlation(pairs: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each scatter; 0 where either variable is constant."""
    check_pairs(pairs)
    centred = pairs.double() - pairs.double().mean(dim=1, keepdim=True)
    cov = (centred[..., 0] * centred[..., 1]).sum(1)
    var = (centred**2).sum(1)
    denom = (var[:, 0] * var[:, 1]).sqrt()
    rho = torch.where(denom > 0, cov / denom.clamp_min(1e-300), 0.0)
    return rho.clamp(-1, 1).to(pairs.dtype)


def correlation_scorer(pairs: torch.Tensor) -> torch.Tensor:
    """The paper's first sanity check (§4.4): correlation in place of NCC.

    Maps Pearson's ρ in [-1, 1] to (1 + ρ) / 2 in [0, 1], so the "top causal" features
    are the most positively correlated with the category and the "top anticausal"
    ones the most negatively correlated.
    """
    return (1 + _correlation(pairs)) / 2


def abs_correlation_scorer(pairs: torch.Tensor) -> torch.Tensor:
    """The paper's second sanity check (§4.4): |ρ| in [0, 1] in place of NCC.

    The "top causal" features are the most strongly correlated with the category,
    either sign; the "top anticausal" ones are the least correlated.
    """
    return _correlation(pairs).abs()


def _standardise(values: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance along dim 0, as NCC's training scatters are (§3.1)."""
    centred = values - values.mean(0, keepdim=True)
    std = centred.std(0, keepdim=True)
    return torch.where(std > 0, centred / std.clamp_min(1e-12), 0.0)


def causal_scores(
    features: torch.Tensor,
    logodds: torch.Tensor,
    scorer: Scorer,
    *,
    batch_pairs: int = 256,
    desc: str = "causal scores",
) -> torch.Tensor:
    """P(f_l → c_k) for every feature l and category k: the scorer on {(f_jl, c_jk)}_j (§4.2).

    ``features`` (m, L) and ``logodds`` (m, K) hold the same m images. Each variable is
    standardised before scoring. Returns (K, L) scores in [0, 1].
    """
    if features.ndim != 2 or logodds.ndim != 2 or len(features) != len(logodds):
        raise ValueError(
            f"features (m, L) and logodds (m, K) must share m, got "
            f"{tuple(features.shape)} and {tuple(logodds.shape)}"
        )
    f, c = _standardise(features.float()), _standardise(logodds.float())
    n_features = f.shape[1]
    jobs = [(k, s) for k in range(c.shape[1]) for s in range(0, n_features, batch_pairs)]
    scores = torch.empty(c.shape[1], n_features)
    for k, start in progress(jobs, desc=desc):
        x = f[:, start : start + batch_pairs].T  # (B, m)
        y = c[:, k].expand_as(x)
        pairs = torch.stack([x, y], dim=-1)
        out = scorer(pairs)
        if not isinstance(out, torch.Tensor) or out.shape != (len(x),):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the scorer must return a tensor of shape ({len(x)},), got {got}")
        out = out.detach().float().cpu()
        if not torch.all((out >= 0) & (out <= 1)):
            raise ValueError("the scorer must return probabilities P(X → Y) in [0, 1]")
        scores[k, start : start + len(x)] = out
    return scores


# ------------------------------------------------------------------ §4.4, Fig. 6


def top_features(scores: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the top ``fraction`` causal and anticausal features (§4.2).

    ``scores`` (L,) or (K, L) hold P(feature → category). The causal features are the
    round(fraction · L) highest scores (highest first), the anticausal features the
    same number of lowest (lowest first); at least one of each. Ties keep index order.
    """
    _check_fraction(fraction)
    if scores.ndim not in (1, 2) or scores.shape[-1] < 1:
        raise ValueError(f"scores must have shape (L,) or (K, L), got {tuple(scores.shape)}")
    n = max(1, round(fraction * scores.shape[-1]))
    ascending = torch.argsort(scores, dim=-1, stable=True)
    descending = torch.argsort(-scores, dim=-1, stable=True)
    return descending[..., :n], ascending[..., :n]


def binomial_p_value(count: int, n: int) -> float:
    """P(at least ``count`` of ``n`` categories agree by chance), a one-sided binomial, p = ½.

    The paper's 20 of 20 categories: 2^-20 ≈ 10^-6 (§4.4).
    """
    if not 0 <= count <= n or n < 1:
        raise ValueError(f"need 0 <= count <= n and n >= 1, got count={count}, n={n}")
    return float(binomtest(int(count), int(n), 0.5, alternative="greater").pvalue)


@dataclass(frozen=True)
class SignalSummary:
    """Fig. 6 for one top fraction: per category, ratios of the top causal/anticausal features.

    Per-category arrays have one entry per category (in CATEGORIES order); "std" is the
    standard deviation over the selected features (population form, so one feature
    gives 0). ``consistent[k]``: the anticausal features' mean object ratio exceeds the
    causal ones' (Hypothesis 2). ``context_consistent[k]``: likewise for the context
    ratio, which Hypothesis 2 does not expect to separate. The alignments use the
    known ground truth: the mean |correlation| over the selected features between the
    feature and the visible share of category k's causes (or effects) in the scene.
    """

    fraction: float
    n_features: int
    causal: torch.Tensor  # (K, n) feature indices
    anticausal: torch.Tensor  # (K, n)
    object_causal_mean: torch.Tensor  # (K,)
    object_causal_std: torch.Tensor
    object_anticausal_mean: torch.Tensor
    object_anticausal_std: torch.Tensor
    context_causal_mean: torch.Tensor
    context_causal_std: torch.Tensor
    context_anticausal_mean: torch.Tensor
    context_anticausal_std: torch.Tensor
    consistent: torch.Tensor  # (K,) bool
    count: int
    p_value: float
    context_consistent: torch.Tensor
    context_count: int
    context_p_value: float
    cause_alignment_causal: torch.Tensor  # (K,)
    cause_alignment_anticausal: torch.Tensor
    effect_alignment_causal: torch.Tensor
    effect_alignment_anticausal: torch.Tensor


def _gathered_stats(values: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    picked = values.gather(1, index)
    return picked.mean(1), picked.std(1, correction=0)


def summarise(
    scores: torch.Tensor,
    object_ratio: torch.Tensor,
    context_ratio: torch.Tensor,
    fraction: float,
    cause_alignment: torch.Tensor,
    effect_alignment: torch.Tensor,
) -> SignalSummary:
    """§4.4: compare the top-``fraction`` anticausal and causal features, category by category.

    Every argument but ``fraction`` is (K, L): causal scores, object and context
    ratios, and the ground-truth |correlation| of each feature with category k's
    causes and effects.
    """
    if (
        not (
            scores.shape
            == object_ratio.shape
            == context_ratio.shape
            == cause_alignment.shape
            == effect_alignment.shape
        )
        or scores.ndim != 2
    ):
        raise ValueError("scores, ratios and alignments must all have the same shape (K, L)")
    causal, anticausal = top_features(scores, fraction)
    o_c, o_c_sd = _gathered_stats(object_ratio, causal)
    o_a, o_a_sd = _gathered_stats(object_ratio, anticausal)
    c_c, c_c_sd = _gathered_stats(context_ratio, causal)
    c_a, c_a_sd = _gathered_stats(context_ratio, anticausal)
    consistent, context_consistent = o_a > o_c, c_a > c_c
    k = len(scores)
    return SignalSummary(
        fraction=float(fraction),
        n_features=causal.shape[1],
        causal=causal,
        anticausal=anticausal,
        object_causal_mean=o_c,
        object_causal_std=o_c_sd,
        object_anticausal_mean=o_a,
        object_anticausal_std=o_a_sd,
        context_causal_mean=c_c,
        context_causal_std=c_c_sd,
        context_anticausal_mean=c_a,
        context_anticausal_std=c_a_sd,
        consistent=consistent,
        count=int(consistent.sum()),
        p_value=binomial_p_value(int(consistent.sum()), k),
        context_consistent=context_consistent,
        context_count=int(context_consistent.sum()),
        context_p_value=binomial_p_value(int(context_consistent.sum()), k),
        cause_alignment_causal=cause_alignment.gather(1, causal).mean(1),
        cause_alignment_anticausal=cause_alignment.gather(1, anticausal).mean(1),
        effect_alignment_causal=effect_alignment.gather(1, causal).mean(1),
        effect_alignment_anticausal=effect_alignment.gather(1, anticausal).mean(1),
    )


def _abs_correlations(features: torch.Tensor, signal: torch.Tensor) -> torch.Tensor:
    """|corr(f_l, signal)| for every feature l: (L,)."""
    f, s = _standardise(features.double()), _standardise(signal.double()[:, None])
    return (f * s).mean(0).abs().float() * len(f) / max(len(f) - 1, 1)


def ground_truth_alignment(
    features: torch.Tensor, strengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, L) |correlation| of each feature with each category's causes, and with its effects.

    ``strengths`` (m, len(ELEMENTS)) is the visible share of each generative element;
    a category's cause (effect) signal is the summed share of its causes (effects).
    The paper cannot compute this (MSCOCO has no causal ground truth); here it says
    which features track what, by construction.
    """
    if strengths.ndim != 2 or strengths.shape != (len(features), len(ELEMENTS)):
        raise ValueError(
            f"strengths must have shape ({len(features)}, {len(ELEMENTS)}), "
            f"got {tuple(strengths.shape)}"
        )

    def share(names: tuple[str, ...]) -> torch.Tensor:
        return strengths[:, [ELEMENTS.index(n) for n in names]].sum(1)

    causes = torch.stack([_abs_correlations(features, share(CAUSES[k])) for k in CATEGORIES])
    effects = torch.stack([_abs_correlations(features, share(EFFECTS[k])) for k in CATEGORIES])
    return causes, effects


@dataclass(frozen=True)
class ImageSignalResult:
    """Everything §4.4 reports, on the scene world, for one scorer."""

    categories: tuple[str, ...]
    scores: torch.Tensor  # (K, L) P(f_l → c_k)
    object_ratio: torch.Tensor  # (K, L) s^o_l for category k
    context_ratio: torch.Tensor  # (K, L) s^c_l
    top: SignalSummary  # the paper's top 1 % (Fig. 6)
    wide: SignalSummary  # the paper's top 20 %
    classifier_auc: torch.Tensor  # (K,) the category classifier on the analysis scenes
    n_scatter: int  # images per scatter {(f_jl, c_jk)}
    n_category_images: torch.Tensor  # (K,) images behind each category's ratios
    seconds: float

    @property
    def n_categories(self) -> int:
        return len(self.categories)


def image_signal_study(config: SceneStudyConfig, seed: int, scorer: Scorer) -> ImageSignalResult:
    """§4.2-4.4 on the scene world with a given scorer (NCC, or a correlation).

    The networks and all feature scores come from :func:`cached_scene_features`, so a
    second scorer costs only its own scoring. Choices where the paper is silent or
    the world differs:

    * Scatters (§4.2) use the analysis scenes with at least one object of any
      category, as the paper uses MSCOCO images with at least one Pascal object;
      ``config.scatter_points`` of them (a seeded subset) keep NCC affordable on a CPU.
    * Ratios (§4.3) of category k use the scenes that contain k: only they have
      category-k boxes to black out.
    """
    start = time.perf_counter()
    data = cached_scene_features(config, seed)
    keep = torch.nonzero(data["keep"]).squeeze(1)
    generator = torch.Generator().manual_seed(seed)
    chosen = keep[torch.randperm(len(keep), generator=generator)[: config.scatter_points]]
    scores = causal_scores(data["features"][chosen], data["logodds"][chosen], scorer)
    object_ratio, context_ratio = [], []
    for name in CATEGORIES:
        part = data["per_category"][name]
        o, c = feature_ratios(
            data["features"][part["rows"]], part["object_features"], part["context_features"]
        )
        object_ratio.append(o)
        context_ratio.append(c)
    object_ratio, context_ratio = torch.stack(object_ratio), torch.stack(context_ratio)
    causes, effects = ground_truth_alignment(data["features"][keep], data["strengths"][keep])
    return ImageSignalResult(
        categories=CATEGORIES,
        scores=scores,
        object_ratio=object_ratio,
        context_ratio=context_ratio,
        top=summarise(scores, object_ratio, context_ratio, config.top_fraction, causes, effects),
        wide=summarise(scores, object_ratio, context_ratio, config.wide_fraction, causes, effects),
        classifier_auc=data["auc"],
        n_scatter=len(chosen),
        n_category_images=torch.tensor([len(data["per_category"][k]["rows"]) for k in CATEGORIES]),
        seconds=time.perf_counter() - start,
    )


def blackout_gallery(config: SceneStudyConfig, seed: int, category: str, n: int = 4) -> dict:
    """Fig. 5 on the scene world: ``n`` analysis scenes with ``category``, and their blackouts.

    Returns display images in [0, 1], (n, 3, S, S): "original", "object_only" and
    "context_only", plus the (n, S, S) box "mask" and the scenes' "rows". As in the
    paper's figure, blacked-out pixels are shown black; the network sees them as
    zeros after normalisation (see :func:`blackouts`).
    """
    k = category_index(category)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    scenes = analysis_scenes(config, seed)
    rows = torch.nonzero(scenes.presence[:, k]).squeeze(1)[:n]
    images = scenes.images[rows]
    mask = box_masks(scenes.boxes[rows], config.world.size)[:, k]
    object_only, context_only = blackouts(images, mask)
    return {
        "original": images,
        "object_only": object_only,
        "context_only": context_only,
        "mask": mask,
        "rows": rows,
    }
