"""Expert arena: throw a digit or an unseen symbol at the committee and see who wins and why.

Pick an image and one or two mechanisms (App. C); every expert's output appears with
the discriminator's score c_j = D(E_j(x')), the winner of Alg. 1 framed in green, and
the clean image it should have recovered beside the input.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as ipw
import torch

from causalkit import icm
from causalkit.core.validate import is_int
from causalkit.icm.glyphs import glyph_images
from causalkit.icm.mechanisms import MECHANISMS, SIDE, apply_mechanism, check_images
from causalkit.icm.model import Committee, Discriminator
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.render import Tile, sheet_png, tile_sheet, upscale

BUDGET_MS = 100.0
NONE = "none"
PER_ROW = 6  # tiles per row of the sheet: clean, input, then the experts
_WINNER = (40, 200, 90)
CHALLENGE = Challenge(
    "Find an unseen symbol and a mechanism that an expert undoes: the winner's output is "
    "closer to the clean symbol than the input is.",
    lambda frame: (
        frame.facts["source"] == "symbol"
        and bool(frame.facts["mechanisms"])
        and frame.facts["error_out"] < frame.facts["error_in"]
    ),
    "The experts learned mechanisms, not digits, so they also invert them on symbols they "
    "never saw in training (§4.3).",
)


def _tile(image: torch.Tensor, caption: str, frame: tuple[int, int, int] | None = None) -> Tile:
    return Tile(upscale(image, 3 * SIDE), caption, frame)


class ExpertArena:
    """The pure layer: (image, mechanisms) -> every expert's output, scores and the winner."""

    def __init__(
        self,
        committee: Committee,
        discriminator: Discriminator,
        images: dict[str, torch.Tensor],
        names: dict[str, list[str]] | None = None,
    ) -> None:
        for source, batch in images.items():
            check_images(batch)
            if not len(batch):
                raise ValueError(f"no {source} images to choose from")
        self.committee, self.discriminator = committee.eval(), discriminator.eval()
        self.images = images
        self.names = names or {}
        self.device = next(committee.parameters()).device

    @classmethod
    def from_result(cls, result: icm.Result) -> ExpertArena:
        """The arena over a trained committee: its test digits and the unseen symbols."""
        glyphs, glyph_names = glyph_images()
        return cls(
            result.committee,
            result.discriminator,
            {"digit": result.data.test, "symbol": glyphs},
            {"symbol": list(glyph_names)},
        )

    @torch.no_grad()
    def contest(
        self, source: str, index: int, mechanism: str, second: str = NONE, noise_seed: int = 0
    ) -> dict[str, torch.Tensor]:
        """The clean image, its transformed version, every expert's output and score."""
        if source not in self.images:
            raise ValueError(f"source must be one of {', '.join(self.images)}, got {source!r}")
        last = len(self.images[source]) - 1
        if not (is_int(index, 0) and index <= last):
            raise ValueError(f"index must be an int in 0..{last}, got {index!r}")
        if not is_int(noise_seed, 0):
            raise ValueError(f"noise_seed must be an int >= 0, got {noise_seed!r}")
        for name in (mechanism, second):
            if name != NONE and name not in MECHANISMS:
                raise ValueError(f"unknown mechanism {name!r}; choose none or one of {MECHANISMS}")
        clean = self.images[source][index : index + 1]
        generator = torch.Generator().manual_seed(noise_seed)
        transformed = clean
        for name in (mechanism, second):
            if name != NONE:
                transformed = apply_mechanism(transformed, name, generator)
        outputs = self.committee(transformed.to(self.device))[0]  # (N', 1, 32, 32)
        scores = torch.sigmoid(self.discriminator(outputs)).cpu()
        return {
            "clean": clean[0],
            "transformed": transformed[0],
            "outputs": outputs.cpu(),
            "scores": scores,
        }

    def render(
        self, source: str, index: int, mechanism: str, second: str = NONE, noise_seed: int = 0
    ) -> Rendered:
        result = self.contest(source, index, mechanism, second, noise_seed)
        scores = result["scores"]
        winner = int(scores.argmax())
        tiles = [_tile(result["clean"], "clean"), _tile(result["transformed"], "input")]
        tiles += [
            _tile(out, f"E{j} {s:.2f}", _WINNER if j == winner else None)
            for j, (out, s) in enumerate(zip(result["outputs"], scores.tolist(), strict=True))
        ]
        sheet, _ = tile_sheet([tiles[k : k + PER_ROW] for k in range(0, len(tiles), PER_ROW)])
        error_in = ((result["transformed"] - result["clean"]) ** 2).mean().item()
        error_out = ((result["outputs"][winner] - result["clean"]) ** 2).mean().item()
        applied = " then ".join(m for m in (mechanism, second) if m != NONE) or "no mechanism"
        label = self.names.get(source, [])
        what = label[index] if index < len(label) else f"{source} #{index}"
        runner_up = scores.topk(min(2, len(scores))).values[-1].item()
        readout = (
            f"<b>{what}</b> through <b>{applied}</b>: winner <b>expert {winner}</b> "
            f"(D score {scores[winner]:.3f}, runner-up {runner_up:.3f}). "
            f"Squared error to the clean image: input {error_in:.4f}, "
            f"winner's output {error_out:.4f}."
        )
        facts = {
            "source": source,
            "mechanisms": tuple(m for m in (mechanism, second) if m != NONE),
            "winner": winner,
            "error_in": error_in,
            "error_out": error_out,
        }
        return Rendered(sheet_png(sheet), readout, facts)


def expert_arena_panel(arena: ExpertArena) -> Panel:
    """Controls: image source and index, one or two mechanisms, the noise draw."""
    largest = max(len(batch) for batch in arena.images.values())
    controls = {
        "source": ipw.ToggleButtons(options=list(arena.images), description="image"),
        "index": ipw.IntSlider(0, min=0, max=largest - 1, description="which"),
        "mechanism": ipw.Dropdown(
            options=[NONE, *MECHANISMS], value="noise", description="mechanism"
        ),
        "second": ipw.Dropdown(options=[NONE, *MECHANISMS], value=NONE, description="then"),
        "noise_seed": ipw.IntSlider(0, min=0, max=9, description="noise draw"),
    }

    def fit_index(change: dict) -> None:
        controls["index"].max = len(arena.images[change["new"]]) - 1

    controls["source"].observe(fit_index, names="value")
    title = "Expert arena: who wins this input?"
    return Panel(controls, arena.render, title, BUDGET_MS, challenge=CHALLENGE)


@register_panel("icm_expert_arena", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    arena = ExpertArena.from_result(icm.result(icm.config("quick"), seed=0))
    options = [NONE, *MECHANISMS]
    return lambda i: arena.render(
        "digit" if i % 2 else "symbol",
        (7 * i) % 100,
        MECHANISMS[i % len(MECHANISMS)],
        options[(3 * i) % len(options)],
        i % 10,
    )
