"""Live composer for Counterfactual Generative Networks (Sauer & Geiger, ICLR 2021, Fig. 2, 3).

Each of the CGN's three mechanisms gets its own class and its own noise: the shape
mechanism f_shape(u_1, y_1) draws the mask m, the texture mechanism f_text,1(u_2, y_2) the
foreground f and the second texture mechanism f_text,2(u_3, y_3) the background b, and the
fixed composer of Eq. 2 blends them, x = m ⊙ f + (1 − m) ⊙ b. Choosing the three classes
independently is the counterfactual of §2.2–2.3 (a "3" shaped, textured like a "5", on the
background of a "7"); the four pictures sit side by side so that a change of one control
can be seen to move only its own mechanism's picture and the composite. A button draws the
10 × 10 counterfactual grid of Fig. 3 (rows: shape class, columns: texture class) for the
current background class, on demand rather than on every slider move.

Every u is N(0, I) drawn from a ``torch.Generator`` seeded with its control's seed, so a
seed always gives the same u (on the CPU and on a GPU alike); the texture mechanisms'
patch shuffle (§3.1) is driven by a fourth, seeded generator, so every render is a
function of its controls. The panel takes the trained CGN the notebook holds
(``result(...).cgn(variant)``) and runs it where it lives, in evaluation mode and without
gradients; its mode is restored after each render.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import ClassVar

import ipywidgets as ipw
import numpy as np
import torch
from PIL import Image, ImageDraw

from causalkit.cgn import experiment
from causalkit.cgn.model import CGN, counterfactual_grid, mask_mean, one_cpu_thread
from causalkit.core.device import get_device
from causalkit.core.validate import is_int
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.pointer import Pointer
from widgets.render import BLACK, FONT, WHITE, Tile, sheet_png, tile_sheet, upscale

BUDGET_MS = 50.0  # one composite, p95, on the CPU
MIN_SHAPE = 0.1  # the challenge: the mask covers at least this share of the image
CHALLENGE = Challenge(
    "Compose an image no training image looks like: shape, texture and background from "
    f"three different classes, with the shape still covering at least {MIN_SHAPE:.0%} of it.",
    lambda frame: len(set(frame.facts["classes"])) == 3 and frame.facts["mu_mask"] >= MIN_SHAPE,
    "Each mechanism took its own class: the CGN composes pairings the data never showed, "
    "the counterfactual images Table 2's classifier learns the shape from.",
)
SIDE = 32  # CGN image side
TILE = 128  # each of the four pictures is drawn TILE × TILE, nearest neighbour
CELL = 64  # a grid cell is drawn CELL × CELL
THUMB = 32  # a class thumbnail in the strips is drawn THUMB × THUMB
_STRIP_GAP = 6  # between thumbnails; room for the chosen one's frame
SEED_MAX = 99  # the seed sliders span 0..SEED_MAX; the pure layer takes any seed >= 0
PARTS = ("mask", "foreground", "background", "composite")
# The grid's gap leaves room for tile_sheet's 3-pixel frame around the current cell.
_GRID_GAP = 4
_GRID_LABEL = 18  # width of the shape labels left of the grid, height of the texture labels
_CURRENT = (220, 40, 40)  # frame of the grid cell of the current shape and texture classes


def _check_class(name: str, value: object, n_classes: int) -> int:
    if not is_int(value):
        raise ValueError(f"{name} must be an integer class in 0..{n_classes - 1}, got {value!r}")
    if not 0 <= value < n_classes:
        raise ValueError(f"{name} must be a class in 0..{n_classes - 1}, got {value}")
    return int(value)


def _check_seed(name: str, value: object) -> int:
    if not is_int(value):
        raise ValueError(f"{name} must be an integer seed, got {value!r}")
    if not 0 <= value < 2**63:
        raise ValueError(f"{name} must be a seed in 0..2**63 - 1, got {value}")
    return int(value)


def noise(seed: int, latent_dim: int) -> torch.Tensor:
    """u ~ N(0, I) of one mechanism, (1, latent_dim) on the CPU: a function of ``seed`` alone.

    Drawn on the CPU (then moved), so a seed means the same u whatever device the CGN is on.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(1, latent_dim, generator=generator)


def grid_seed(
    shape_seed: int, foreground_seed: int, background_seed: int, shuffle_seed: int
) -> int:
    """One seed for :func:`~causalkit.cgn.model.counterfactual_grid` from the four controls.

    The grid draws its own u per mechanism from a single generator, so it cannot reuse the
    composite's three u's; mixing all four seeds (NumPy's SeedSequence) makes the grid a
    function of the controls that changes when any of them does.
    """
    entropy = [shape_seed, foreground_seed, background_seed, shuffle_seed]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


class CGNComposer:
    """The pure layer: (classes, seeds) -> mask, foreground, background, composite; the grid.

    ``cgn`` is used where it lives (its device) and is never moved or copied; each render
    switches it to evaluation mode (batch norm's running statistics) and back.
    """

    def __init__(self, cgn: CGN) -> None:
        if not isinstance(cgn, CGN):
            raise ValueError(f"cgn must be a CGN (causalkit.cgn.CGN), got {type(cgn).__name__}")
        self.cgn = cgn
        self.n_classes = cgn.n_classes
        self.latent_dim = cgn.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.cgn.parameters()).device

    def _run(self, fn: Callable[[], dict]) -> dict:
        was_training = self.cgn.training
        self.cgn.eval()
        try:
            # One intra-op thread: on a loaded 2-core CPU two threads wait on each other.
            with torch.no_grad(), one_cpu_thread():
                return fn()
        finally:
            self.cgn.train(was_training)

    def generate(
        self,
        shape: int,
        foreground: int,
        background: int,
        shape_seed: int = 0,
        foreground_seed: int = 0,
        background_seed: int = 0,
        shuffle_seed: int = 0,
    ) -> dict[str, torch.Tensor]:
        """One composite: each mechanism with its own class and noise seed (Fig. 2, Eq. 2).

        ``shape``, ``foreground`` and ``background`` are the classes y_1, y_2, y_3 given to
        f_shape, f_text,1 and f_text,2; ``*_seed`` seed each mechanism's u, ``shuffle_seed``
        the texture mechanisms' patch shuffle. Returns CPU tensors ``mask`` (1, 32, 32),
        ``foreground``, ``background``, ``composite`` (3, 32, 32) and ``mu_mask`` (a
        0-d tensor, the fraction of the image the shape covers).
        """
        n = self.n_classes
        classes = {
            name: _check_class(name, value, n)
            for name, value in (
                ("shape", shape),
                ("foreground", foreground),
                ("background", background),
            )
        }
        seeds = {
            name: _check_seed(name, value)
            for name, value in (
                ("shape_seed", shape_seed),
                ("foreground_seed", foreground_seed),
                ("background_seed", background_seed),
                ("shuffle_seed", shuffle_seed),
            )
        }
        device = self.device

        def run() -> dict:
            u = {
                part: noise(seeds[f"{part}_seed"], self.latent_dim).to(device)
                for part in ("shape", "foreground", "background")
            }
            y = {part: torch.tensor([c], device=device) for part, c in classes.items()}
            shuffle = torch.Generator().manual_seed(seeds["shuffle_seed"])  # same on any device
            out = self.cgn(
                u["shape"],
                y["shape"],
                u["foreground"],
                y["foreground"],
                u["background"],
                y["background"],
                generator=shuffle,
            )
            result = {part: out[part][0].cpu() for part in PARTS}
            result["mu_mask"] = mask_mean(out["mask"])[0].cpu()
            return result

        return self._run(run)

    def render(
        self,
        shape: int,
        foreground: int,
        background: int,
        shape_seed: int = 0,
        foreground_seed: int = 0,
        background_seed: int = 0,
        shuffle_seed: int = 0,
    ) -> Rendered:
        """Mask | foreground | background | composite, upscaled, with captions and a readout."""
        seeds = (shape_seed, foreground_seed, background_seed, shuffle_seed)
        result = self.generate(shape, foreground, background, *seeds)
        captions = (
            f"mask m (shape {shape})",
            f"foreground f (texture {foreground})",
            f"background b ({background})",
            "m ⊙ f + (1 − m) ⊙ b",
        )
        tiles = [
            Tile(upscale(result[part], TILE), caption)
            for part, caption in zip(PARTS, captions, strict=True)
        ]
        sheet, _ = tile_sheet([tiles])
        readout = self._readout(shape, foreground, background, seeds, result)
        facts = {
            "classes": (shape, foreground, background),
            "mu_mask": float(result["mu_mask"]),
        }
        return Rendered(sheet_png(sheet), readout, facts)

    def _readout(
        self,
        shape: int,
        foreground: int,
        background: int,
        seeds: tuple[int, int, int, int],
        result: dict[str, torch.Tensor],
    ) -> str:
        mu = float(result["mu_mask"])
        if shape == foreground == background:
            kind = "not a counterfactual: one class in every mechanism, as in training"
        else:
            kind = "<b>counterfactual</b>: the mechanisms get different classes"
        return (
            f"shape <b>{shape}</b>, texture <b>{foreground}</b>, background "
            f"<b>{background}</b>: {kind}. μ<sub>mask</sub> = {mu:.3f} (the shape covers "
            f"{100 * mu:.0f} % of the image). Noise seeds u<sub>shape</sub> {seeds[0]}, "
            f"u<sub>fg</sub> {seeds[1]}, u<sub>bg</sub> {seeds[2]}; shuffle {seeds[3]}; "
            f"on {self.device.type}."
        )

    def grid(self, background: int, seed: int = 0) -> torch.Tensor:
        """Fig. 3's grid, (n_classes, n_classes, 3, 32, 32) on the CPU: row i has shape class
        i, column j texture class j, every cell the background class ``background``.

        One u per mechanism, shared by every cell, drawn (with the shuffles) from a
        generator seeded with ``seed`` (see :func:`counterfactual_grid`).
        """
        background = _check_class("background", background, self.n_classes)
        seed = _check_seed("seed", seed)
        classes = range(self.n_classes)

        def run() -> dict:
            generator = torch.Generator().manual_seed(seed)
            cells = counterfactual_grid(
                self.cgn, classes, classes, background=background, generator=generator
            )
            return {"grid": cells.cpu()}

        return self._run(run)["grid"]

    def render_grid(
        self, background: int, seed: int = 0, current: tuple[int, int] | None = None
    ) -> Rendered:
        """The grid as one PNG, class labels on the left (shape) and on top (texture).

        ``current`` = (shape, texture) frames that cell: the current classes, drawn with
        the grid's noise. The picture is ``grid_size()`` pixels, cell (i, j) at
        ``grid_origin(i, j)``.
        """
        cells = self.grid(background, seed)
        rows, cols = cells.shape[:2]
        if current is not None:
            current = tuple(
                _check_class(n, c, rows) for n, c in zip(("shape", "texture"), current, strict=True)
            )
        sheet, _ = _grid_sheet(rows, cols, lambda i, j: upscale(cells[i, j], CELL), current)
        readout = (
            f"{rows} × {cols} counterfactual grid (Fig. 3): row = shape class, column = "
            f"texture class, background class <b>{background}</b> in every cell; one u per "
            f"mechanism shared by all cells (grid noise seed {seed})."
        )
        return Rendered(sheet_png(sheet), readout)


def _label(text: str, width: int, height: int) -> Image.Image:
    """A white tile with ``text`` centred on it: a row or column label of the grid."""
    image = Image.new("RGB", (width, height), WHITE)
    ImageDraw.Draw(image).text((width / 2, height / 2), text, fill=BLACK, font=FONT, anchor="mm")
    return image


def _grid_sheet(
    rows: int,
    cols: int,
    cell: Callable[[int, int], Image.Image],
    current: tuple[int, ...] | None = None,
) -> tuple[Image.Image, list[list[tuple[int, int]]]]:
    """The grid as :func:`~widgets.render.tile_sheet` lays it out: a row of texture labels,
    then per shape class its label and its cells; ``current`` gets a frame."""
    header = [None, *(Tile(_label(str(j), CELL, _GRID_LABEL)) for j in range(cols))]
    body = [
        [
            Tile(_label(str(i), _GRID_LABEL, CELL)),
            *(Tile(cell(i, j), frame=_CURRENT if (i, j) == current else None) for j in range(cols)),
        ]
        for i in range(rows)
    ]
    return tile_sheet([header, *body], gap=_GRID_GAP, caption=0)


@lru_cache(maxsize=8)
def _grid_layout(rows: int, cols: int) -> tuple[tuple[int, int], list[list[tuple[int, int]]]]:
    blank = Image.new("RGB", (CELL, CELL), WHITE)
    sheet, origins = _grid_sheet(rows, cols, lambda i, j: blank)
    return sheet.size, origins


@lru_cache(maxsize=1)
def _composer_origins() -> list[tuple[int, int]]:
    blank = Image.new("RGB", (TILE, TILE), WHITE)
    return tile_sheet([[Tile(blank, part) for part in PARTS]])[1][0]


def tile_origin(k: int) -> tuple[int, int]:
    """(x, y) of the top-left pixel of the k-th picture of :data:`PARTS` in the PNG."""
    return _composer_origins()[k]


def grid_size(rows: int = 10, cols: int = 10) -> tuple[int, int]:
    """(width, height) in pixels of a rows × cols grid PNG."""
    return _grid_layout(rows, cols)[0]


def grid_origin(i: int, j: int, rows: int = 10, cols: int = 10) -> tuple[int, int]:
    """(x, y) of the top-left pixel of cell (shape i, texture j) in a rows × cols grid PNG."""
    return _grid_layout(rows, cols)[1][i + 1][j + 1]


def cgn_composer_panel(
    cgn: CGN | Mapping[str, CGN], title: str = "CGN composer: shape, texture, background"
) -> Panel:
    """The composer of a trained CGN (``result(config, seed).cgn(variant)``), or of several
    keyed by MNIST variant, with a switch between them. Controls: a class and a noise seed per
    mechanism, the shuffle seed; a strip of the ten classes' thumbnails per mechanism, where a
    click picks the class; a grid button.

    The grid (and its caption) appear under the panel once the button is pressed and stay
    until it is pressed again; the caption says when the background class has moved since.
    """
    cgns = dict(cgn) if isinstance(cgn, Mapping) else {"": cgn}
    if not cgns:
        raise ValueError("cgn must be a CGN or a non-empty mapping of variant names to CGNs")
    composers = {name: CGNComposer(model) for name, model in cgns.items()}
    composer = next(iter(composers.values()))
    top = composer.n_classes - 1

    def slider(description: str, maximum: int) -> ipw.IntSlider:
        return ipw.IntSlider(0, min=0, max=maximum, description=description, continuous_update=True)

    controls: dict[str, ipw.ValueWidget] = {}
    if len(composers) > 1:
        controls["variant"] = ipw.ToggleButtons(options=list(composers), description="MNIST")
    controls |= {
        "shape": slider("shape class", top),
        "foreground": slider("texture class", top),
        "background": slider("backgr. class", top),
        "shape_seed": slider("shape noise", SEED_MAX),
        "foreground_seed": slider("texture noise", SEED_MAX),
        "background_seed": slider("backgr. noise", SEED_MAX),
        "shuffle_seed": slider("shuffle seed", SEED_MAX),
    }

    def current() -> CGNComposer:
        return composers[controls["variant"].value] if "variant" in controls else composer

    def render(variant: str = "", **values: int) -> Rendered:
        if variant and variant not in composers:
            raise ValueError(f"variant must be one of {', '.join(composers)}, got {variant!r}")
        return (composers[variant] if variant else composer).render(**values)

    button = ipw.Button(
        description=f"{composer.n_classes}×{composer.n_classes} grid",
        tooltip="draw every shape × texture pair for the current background class (Fig. 3)",
        icon="th",
        layout=ipw.Layout(width="auto"),
    )
    button.add_class("causalkit-action-grid")
    grid_image = ipw.Image(format="png", layout=ipw.Layout(display="none"))
    grid_image.add_class("causalkit-grid")
    grid_readout = ipw.HTML()
    grid_readout.add_class("causalkit-grid-readout")
    drawn: dict[str, object] = {}

    def draw_grid(_button: ipw.Button | None = None) -> Rendered:
        values = {name: control.value for name, control in controls.items()}
        seed = grid_seed(
            values["shape_seed"],
            values["foreground_seed"],
            values["background_seed"],
            values["shuffle_seed"],
        )
        start = time.perf_counter()
        frame = current().render_grid(
            values["background"], seed, current=(values["shape"], values["foreground"])
        )
        ms = (time.perf_counter() - start) * 1000
        grid_image.value = frame.png
        grid_image.layout.display = None  # shown from the first grid on
        drawn.update(background=values["background"], text=f"{frame.readout} Drawn in {ms:.0f} ms.")
        grid_readout.value = drawn["text"]
        return frame

    def note_stale(_change: dict) -> None:
        if drawn and drawn["background"] != controls["background"].value:
            grid_readout.value = (
                f"{drawn['text']} <i>The background class is now "
                f"{controls['background'].value}: press the grid button to redraw.</i>"
            )
        elif drawn:
            grid_readout.value = drawn["text"]

    button.on_click(draw_grid)
    controls["background"].observe(note_stale, names="value")
    strips = ClassStrips(current, controls)
    panel = Panel(
        controls, render, title, BUDGET_MS, extra=[strips.widget, button], challenge=CHALLENGE
    )
    panel.on_frame(strips.show)
    panel.widget.children = (*panel.widget.children, grid_image, grid_readout)
    panel.composer, panel.composers, panel.strips = composer, composers, strips
    panel.grid_image, panel.grid_readout = grid_image, grid_readout
    panel.grid_button, panel.draw_grid = button, draw_grid
    return panel


class ClassStrips:
    """One strip of the ten classes' thumbnails per mechanism (what the mechanism draws for
    that class, seed 0); a click on a thumbnail picks its class. The chosen one is framed."""

    LABELS: ClassVar[dict[str, str]] = {
        "shape": "shape (mask)",
        "foreground": "texture",
        "background": "background",
    }

    def __init__(
        self, current: Callable[[], CGNComposer], controls: Mapping[str, ipw.ValueWidget]
    ) -> None:
        self.current, self.controls = current, controls
        self.images: dict[str, ipw.Image] = {}
        self.pointers: dict[str, Pointer] = {}
        self._thumbs: dict[int, dict[str, list[Image.Image]]] = {}
        rows = []
        for part, label in self.LABELS.items():
            image = ipw.Image(format="png")
            image.add_class(f"causalkit-strip-{part}")
            self.images[part] = image
            self.pointers[part] = Pointer(image, on_press=self._picker(part))
            caption = ipw.HTML(f"<small>{label}</small>", layout=ipw.Layout(width="90px"))
            rows.append(ipw.HBox([caption, image]))
        self.widget = ipw.VBox(rows)

    def thumbnails(self) -> dict[str, list[Image.Image]]:
        """Each part's ten thumbnails for the current CGN, drawn once per CGN."""
        composer = self.current()
        key = id(composer)
        if key not in self._thumbs:
            drawn = [composer.generate(k, k, k) for k in range(composer.n_classes)]
            self._thumbs[key] = {
                part: [upscale(d["mask" if part == "shape" else part], THUMB) for d in drawn]
                for part in self.LABELS
            }
        return self._thumbs[key]

    def show(self, frame: Rendered) -> None:
        chosen = dict(zip(self.LABELS, frame.facts["classes"], strict=True))
        for part, thumbs in self.thumbnails().items():
            self.images[part].value = _strip_png(thumbs, chosen[part])

    def _picker(self, part: str) -> Callable[[int, int], None]:
        def pick(x: int, _y: int) -> None:
            k = x // (THUMB + _STRIP_GAP)
            if 0 <= k < self.current().n_classes:
                self.controls[part].value = k

        return pick


def _strip_png(thumbs: list[Image.Image], chosen: int) -> bytes:
    """Thumbnails side by side, the chosen one framed, its class number under each."""
    step = THUMB + _STRIP_GAP
    strip = Image.new("RGB", (step * len(thumbs), THUMB + _STRIP_GAP + 12), WHITE)
    draw = ImageDraw.Draw(strip)
    for k, thumb in enumerate(thumbs):
        x = k * step + _STRIP_GAP // 2
        strip.paste(thumb, (x, _STRIP_GAP // 2))
        if k == chosen:
            draw.rectangle(
                (x - 2, 0, x + THUMB + 1, THUMB + _STRIP_GAP - 1), outline=_CURRENT, width=2
            )
        draw.text((x + THUMB // 2 - 3, THUMB + _STRIP_GAP - 1), str(k), fill=BLACK, font=FONT)
    return sheet_png(strip)


def demo_cgn(seed: int = 0, device: torch.device | str | None = None) -> CGN:
    """An *untrained* CGN, its weights drawn from ``seed``, on ``device`` (default get_device()).

    For the browser test and the unit tests, which must not train: its outputs are real
    mechanism outputs of the right shapes, and a render costs what one with a trained CGN
    costs (same layers), but it has learned nothing. The global RNG is left as it was.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_check_seed("seed", seed))
        cgn = CGN()
    return cgn.to(get_device() if device is None else device).eval()


def _settings(i: int) -> tuple[int, ...]:
    """The i-th of a varied sequence of control values, as a person would move them."""
    return (i % 10, (3 * i + 1) % 10, (7 * i + 2) % 10, i % 5, (i // 2) % 7, (i // 3) % 4, i % 3)


@register_panel("cgn_composer", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    # The notebook's panel: the quick Wildlife CGN (trained on a cold cache, else loaded).
    composer = CGNComposer(experiment.result(experiment.config("quick"), 0).cgn("wildlife"))
    return lambda i: composer.render(*_settings(i))
