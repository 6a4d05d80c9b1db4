"""The procedural scene world for §4 of Lopez-Paz et al., "Discovering Causal Signals in
Images" (CVPR 2017, https://arxiv.org/abs/1605.08179): small scenes in which the causal
dispositions of objects are known *by construction*.

The paper (§4.1) analyses MSCOCO images with an ImageNet ResNet-18 and a Pascal VOC
classifier; neither can be had offline, so the study (:mod:`.study`) runs on this world:

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

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
