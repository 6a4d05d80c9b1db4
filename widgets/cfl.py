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

from causalkit.cfl.experiment import GratingConfig, cached_grating, load_causal_net
from causalkit.cfl.grating import GratingWorld, causal_prob, has_hbar, has_vbar
from causalkit.cfl.manipulator import CausalNet, greedy_binary_manipulation
from causalkit.core import rgba_png
from widgets.panel import Panel, Rendered, register_panel

BUDGET_MS = 250.0
SCALE = 16  # screen pixels per image pixel
POOL = 40  # images offered by the index slider


def _upscale(rgb: np.ndarray) -> np.ndarray:
    """Scale up, with a thin gray frame so white images show their edges."""
    big = rgb.repeat(SCALE, axis=0).repeat(SCALE, axis=1)
    return np.pad(big, ((2, 2), (2, 2), (0, 0)), constant_values=150)


def _picture(original: np.ndarray, manipulated: np.ndarray) -> np.ndarray:
    """Original | manipulated | changes (green: added, red: removed), as one RGB image."""
    gray = lambda img: np.repeat((255 * (1 - img))[..., None], 3, axis=2)  # noqa: E731
    changes = gray(manipulated) * 0.35 + 255 * 0.65
    changes[(manipulated > original)] = (30, 160, 60)
    changes[(manipulated < original)] = (210, 40, 40)
    gap = np.full((original.shape[0] * SCALE + 4, 8, 3), 255.0)
    tiles = [_upscale(gray(original)), gap, _upscale(gray(manipulated)), gap, _upscale(changes)]
    return np.concatenate(tiles, axis=1).astype(np.uint8)


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
        pixels = _picture(image.numpy(), manipulated.numpy())
        return Rendered(rgba_png(pixels), readout)


def _grating_model(seed: int = 0) -> tuple[GratingManipulation, torch.Tensor]:
    config = GratingConfig()
    result = cached_grating(config, seed)  # trained once, by the notebook or here
    pool = result["observed_images"][:POOL]
    return GratingManipulation(load_causal_net(result["net"]), config.world), pool


def grating_panel(seed: int = 0) -> Panel:
    """Pick an observed GRATING image, edit it, and drag ĉ and α."""
    model, pool = _grating_model(seed)
    side = model.world.side
    edits: dict[int, torch.Tensor] = {}
    index = ipw.IntSlider(0, 0, len(pool) - 1, description="image")
    target = ipw.FloatSlider(0.0, min=0, max=1, step=0.05, description="target ĉ")
    alpha = ipw.FloatSlider(0.15, min=0, max=1, step=0.05, description="α")
    row = ipw.IntSlider(0, 0, side - 1, description="row")
    col = ipw.IntSlider(0, 0, side - 1, description="column")

    def current(i: int) -> torch.Tensor:
        return edits.setdefault(i, pool[i].clone())

    def render(index: int, target: float, alpha: float) -> Rendered:
        return model.render(current(index), target, alpha)

    def edit(change: Callable[[torch.Tensor], None]) -> Callable[[ipw.Button], None]:
        def on_click(_button: ipw.Button) -> None:
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
    extra = [ipw.HBox([row, col]), ipw.HBox(button_row)]
    panel = Panel(
        {"index": index, "target": target, "alpha": alpha},
        render,
        "Manipulate a GRATING image",
        BUDGET_MS,
        extra=extra,
    )
    return panel


@register_panel("cfl_grating_manipulator", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    model, pool = _grating_model()
    targets = np.linspace(0, 1, 7)
    alphas = np.linspace(0.05, 0.6, 5)
    return lambda i: model.render(
        pool[i % len(pool)], float(targets[i % 7]), float(alphas[(i // 7) % 5])
    )
