"""CFL panel: drag the manipulator's target ĉ and trade-off α, or edit the image by hand.

Shows the original and the manipulated image side by side, with the pixels the
manipulator added (green) and removed (red), C of both, the distance d, and the
oracle's verdict P(T | man(I)) (Alg. 2, step 6 and the oracle A).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as ipw
import numpy as np
import torch
from PIL import ImageOps

from causalkit import cfl
from causalkit.cfl.experiment import GratingRun, MnistRun
from causalkit.cfl.grating import GratingWorld, causal_prob, has_hbar, has_vbar
from causalkit.cfl.mnist import UNSURE, Annotators
from causalkit.cfl.model import CausalNet, greedy_binary_manipulation, relaxed_manipulation
from causalkit.core.validate import is_int
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.pointer import Pointer, ValueStrip
from widgets.render import Tile, sheet_png, tile_sheet, upscale

BUDGET_MS = 250.0
GRATING_SCALE, DIGIT_SCALE = 16, 6  # screen pixels per image pixel
POOL = 40  # GRATING images offered by the index slider
SOURCES = ("GRATING", "digit")
CHALLENGE = Challenge(
    "On a GRATING image with both bars, find a target ĉ and an α at which the manipulator "
    "removes the h-bar but keeps the v-bar.",
    lambda frame: (
        frame.facts["source"] == "GRATING"
        and frame.facts["hbar"] == (True, False)
        and frame.facts["vbar"] == (True, True)
    ),
    "The manipulator changed what causes T, the h-bar, and left the v-bar, which only goes "
    "with T in the observed images: the causal, not the observational, class was moved.",
)
BORDER = (150, 150, 150)  # so that white images show their edges
EDGE = 2  # the border's width, in screen pixels
STEP = 0.05  # the target slider's step (its strip snaps to it too)
ADDED, REMOVED = np.array([30, 160, 60]) / 255, np.array([210, 40, 40]) / 255


def _picture(
    original: np.ndarray, manipulated: np.ndarray, scale: int
) -> tuple[bytes, tuple[int, int]]:
    """Original | manipulated | changes (green: ink added, red: ink removed), as one PNG, and
    where the original's first pixel is in it (for the pointer)."""
    size = original.shape[0] * scale
    change = np.clip(manipulated - original, -1, 1)[..., None]
    faint = (1 - manipulated[..., None]) * 0.35 + 0.65
    changes = faint * (1 - np.abs(change)) + np.where(change > 0, ADDED, REMOVED) * np.abs(change)
    # A thin border of the tile's own, not Tile.frame: the frame is for highlighting, and
    # these three sit side by side on every frame.
    tiles = [
        Tile(ImageOps.expand(upscale(image, size), border=EDGE, fill=BORDER), caption)
        for image, caption in (
            (1 - original, "original"),
            (1 - manipulated, "manipulated"),
            (changes, "changes"),
        )
    ]
    sheet, origins = tile_sheet([tiles])
    x, y = origins[0][0]
    return sheet_png(sheet), (x + EDGE, y + EDGE)


class GratingManipulation:
    """The pure layer: (image, ĉ, α) -> the manipulated image and its numbers."""

    def __init__(self, net: CausalNet, world: GratingWorld) -> None:
        self.net, self.world = net, world

    def render(self, image: torch.Tensor, target: float, alpha: float) -> Rendered:
        side = self.world.side
        if image.shape != (side, side):
            raise ValueError(f"image must be {side}x{side}, got {tuple(image.shape)}")
        if not (0 <= target <= 1 and 0 <= alpha <= 1):
            raise ValueError(f"target ĉ and α must be in [0, 1], got {target}, {alpha}")
        flat = image.reshape(1, -1).float()
        manipulated = greedy_binary_manipulation(
            self.net, flat, torch.tensor([target]), alpha
        ).reshape(side, side)
        with torch.no_grad():
            c_before, c_after = self.net(flat).item(), self.net(manipulated.reshape(1, -1)).item()
        both = torch.stack([image, manipulated])
        verdict = causal_prob(self.world, both)
        hbar, vbar = has_hbar(both).tolist(), has_vbar(both).tolist()
        flips = int((manipulated != image).sum())
        yes_no = lambda flag: "yes" if flag else "no"  # noqa: E731
        readout = (
            "Left: original · middle: manipulated · right: changes "
            "(<span style='color:#1e9e3c'>added</span>, "
            "<span style='color:#d22828'>removed</span>).<br>"
            f"C(original) = <b>{c_before:.2f}</b> → C(manipulated) = <b>{c_after:.2f}</b> "
            f"(target ĉ = {target:.2f}, α = {alpha:.2f}); d = <b>{flips}</b> flipped pixels.<br>"
            f"Oracle: P(T | man(I)) = {verdict[0]:.3f} → <b>{verdict[1]:.3f}</b>; "
            f"h-bar {yes_no(hbar[0])} → {yes_no(hbar[1])}, v-bar {yes_no(vbar[0])} → "
            f"{yes_no(vbar[1])}."
        )
        picture, origin = _picture(image.numpy(), manipulated.numpy(), GRATING_SCALE)
        facts = {
            "source": "GRATING",
            "hbar": tuple(hbar),
            "vbar": tuple(vbar),
            "p_t": tuple(verdict.tolist()),
            "c": (c_before, c_after),
            "target": target,
            "origin": origin,
        }
        return Rendered(picture, readout, facts)


class DigitManipulation:
    """The pure layer for MNIST: one one-vs-all C, the relaxed search, the simulated annotators."""

    def __init__(self, net: CausalNet, digit: int, annotators: Annotators, alpha_steps: int = 100):
        self.net, self.digit, self.annotators, self.steps = net, digit, annotators, alpha_steps

    def render(self, image: torch.Tensor, target: float, alpha: float) -> Rendered:
        if image.shape != (784,):
            raise ValueError(f"a digit must be a flattened 28x28 image, got {tuple(image.shape)}")
        if not (0 <= target <= 1 and 0 <= alpha <= 1):
            raise ValueError(f"target ĉ and α must be in [0, 1], got {target}, {alpha}")
        flat = image.reshape(1, -1)
        manipulated = relaxed_manipulation(
            self.net, flat, torch.tensor([target]), alpha, steps=self.steps
        )
        with torch.no_grad():
            c_before, c_after = self.net(flat).item(), self.net(manipulated).item()
        answers = self.annotators.answer(torch.cat([flat, manipulated])).tolist()
        said = ["?" if a == UNSURE else str(a) for a in answers]
        verdict = ["yes" if a == self.digit else "no" for a in answers]
        distance = float(((manipulated - flat) ** 2).sum())
        readout = (
            "Left: original · middle: manipulated · right: changes "
            "(<span style='color:#1e9e3c'>ink added</span>, "
            "<span style='color:#d22828'>ink removed</span>).<br>"
            f"C = P(digit is {self.digit}): <b>{c_before:.2f}</b> → <b>{c_after:.2f}</b> "
            f"(target ĉ = {target:.2f}, α = {alpha:.2f}); d = <b>{distance:.1f}</b> "
            f"(squared L2).<br>Annotators say <b>{said[0]}</b> → <b>{said[1]}</b>: "
            f"'is it a {self.digit}?' {verdict[0]} → <b>{verdict[1]}</b>."
        )
        original, after = flat.reshape(28, 28).numpy(), manipulated.reshape(28, 28).numpy()
        picture, origin = _picture(original, after, DIGIT_SCALE)
        facts = {
            "source": "digit",
            "said": tuple(said),
            "c": (c_before, c_after),
            "target": target,
            "origin": origin,
        }
        return Rendered(picture, readout, facts)


def _grating_model(run: GratingRun) -> tuple[GratingManipulation, torch.Tensor]:
    """The manipulation of a trained GRATING run, and the observed images it offers."""
    return GratingManipulation(run.net, run.world), run.observed_images[:POOL]


def _digit_models(run: MnistRun) -> tuple[dict[int, DigitManipulation], torch.Tensor]:
    """One manipulation per trained one-vs-all machine, and the held-out digits offered."""
    models = {d: DigitManipulation(net, d, run.annotators) for d, net in run.nets.items()}
    return models, run.pool_images


def manipulator_panel(result: cfl.Result) -> Panel:
    """Pick a GRATING image or a digit, drag ĉ and α; edit GRATING images by hand.

    Shows the first GRATING run and the MNIST machines of ``result``, as the notebook
    trained them.
    """
    grating, pool = _grating_model(result.grating[0])
    digit_models, digit_pool = _digit_models(result.mnist)
    side = grating.world.side
    edits: dict[int, torch.Tensor] = {}
    index_max = min(len(pool), len(digit_pool)) - 1
    source = ipw.ToggleButtons(options=list(SOURCES), description="image")
    machine = ipw.Dropdown(options=sorted(digit_models), description="is it a")
    index = ipw.IntSlider(0, 0, index_max, description="which")
    target = ipw.FloatSlider(0.0, min=0, max=1, step=STEP, description="target ĉ")
    alpha = ipw.FloatSlider(0.15, min=0, max=1, step=0.05, description="α")
    row = ipw.IntSlider(0, 0, side - 1, description="row")
    col = ipw.IntSlider(0, 0, side - 1, description="column")

    def current(i: int) -> torch.Tensor:
        return edits.setdefault(i, pool[i].clone())

    def render(source: str, machine: int, index: int, target: float, alpha: float) -> Rendered:
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
        if not (is_int(index, 0) and index <= index_max):
            raise ValueError(f"index must be an int in 0..{index_max}, got {index!r}")
        if source == "digit" and machine not in digit_models:
            raise ValueError(f"machine must be one of {sorted(digit_models)}, got {machine!r}")
        if source == "digit":
            return digit_models[machine].render(digit_pool[index], target, alpha)
        return grating.render(current(index), target, alpha)

    def edit(change: Callable[[torch.Tensor], None]) -> Callable[[ipw.Button], None]:
        def on_click(_button: ipw.Button) -> None:
            if source.value == "GRATING":  # digits are not edited by hand
                change(current(index.value))
                panel.refresh()

        return on_click

    def toggle(img: torch.Tensor) -> None:
        img[row.value, col.value] = 1 - img[row.value, col.value]

    buttons = {
        "toggle pixel": toggle,
        "draw h-bar in row": lambda img: img[row.value, :].fill_(1),
        "draw v-bar in column": lambda img: img[:, col.value].fill_(1),
        "reset image": lambda img: img.copy_(pool[index.value]),
    }
    button_row = []
    for label, change in buttons.items():
        button = ipw.Button(description=label, layout=ipw.Layout(width="auto"))
        button.on_click(edit(change))
        button.add_class(f"causalkit-action-{label.split()[0]}")
        button_row.append(button)
    controls = {
        "source": source,
        "machine": machine,
        "index": index,
        "target": target,
        "alpha": alpha,
    }
    extra = [ipw.HBox([row, col]), ipw.HBox(button_row)]
    panel = Panel(
        controls, render, "Manipulator: drag ĉ and α", BUDGET_MS, extra=extra, challenge=CHALLENGE
    )
    panel.pencil = _draw_with_the_pointer(panel, current, row, col, side)
    panel.target_strip = ValueStrip(
        panel,
        target,
        "target ĉ",
        # C of the original (grey) and of the manipulated image (green).
        lambda frame: [
            (frame.facts["c"][0], (120, 120, 120)),
            (frame.facts["c"][1], (30, 160, 60)),
        ],
    )
    return panel


def _draw_with_the_pointer(
    panel: Panel,
    current: Callable[[int], torch.Tensor],
    row: ipw.IntSlider,
    col: ipw.IntSlider,
    side: int,
) -> Pointer:
    """Press on the original GRATING image to set or clear a pixel; drag to draw a stroke (an
    h-bar along a row, a v-bar down a column). A stroke that starts on ink erases."""
    stroke: dict[str, object] = {"ink": None, "last": None}

    def cell_at(x: int, y: int) -> tuple[int, int] | None:
        frame = panel.frame
        if frame is None or frame.facts.get("source") != "GRATING":
            return None  # digits are not edited by hand
        left, top = frame.facts["origin"]
        r, c = (y - top) // GRATING_SCALE, (x - left) // GRATING_SCALE
        return (r, c) if 0 <= r < side and 0 <= c < side else None

    def paint(x: int, y: int, start: bool) -> None:
        cell = cell_at(x, y)
        if cell is None:
            return
        image = current(panel.controls["index"].value)
        if start:
            stroke["ink"], stroke["last"] = 1.0 - float(image[cell]), cell
            row.value, col.value = cell
        if stroke["ink"] is None:
            return
        # Moves arrive throttled, so a quick drag skips cells: fill the segment between.
        (r0, c0), (r1, c1) = stroke["last"], cell
        steps = max(abs(r1 - r0), abs(c1 - c0), 1)
        cells = {
            (round(r0 + (r1 - r0) * k / steps), round(c0 + (c1 - c0) * k / steps))
            for k in range(steps + 1)
        }
        stroke["last"] = cell
        changed = [c for c in cells if float(image[c]) != stroke["ink"]]
        for c in changed:
            image[c] = stroke["ink"]
        if changed:
            panel.refresh()

    def release() -> None:
        stroke["ink"] = stroke["last"] = None

    return Pointer(
        panel.figure,
        on_press=lambda x, y: paint(x, y, start=True),
        on_drag=lambda x, y: paint(x, y, start=False),
        on_release=release,
    )


@register_panel("cfl_grating_manipulator", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    model, pool = _grating_model(cfl.result(cfl.config("quick")).grating[0])
    targets = np.linspace(0, 1, 7)
    alphas = np.linspace(0.05, 0.6, 5)
    return lambda i: model.render(
        pool[i % len(pool)], float(targets[i % 7]), float(alphas[(i // 7) % 5])
    )


@register_panel("cfl_digit_manipulator", budget_ms=BUDGET_MS)
def _benchmark_digits() -> Callable[[int], Rendered]:
    models, pool = _digit_models(cfl.result(cfl.config("quick")).mnist)
    machines = sorted(models)
    targets = np.linspace(0, 1, 5)
    return lambda i: models[machines[i % len(machines)]].render(
        pool[i % len(pool)], float(targets[i % 5]), 0.5
    )
