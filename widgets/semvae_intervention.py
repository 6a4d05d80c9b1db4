"""Intervene on Mario latents: do(z_i = v), propagated by the learned SEM (§5.2, Fig. 6, 7).

Pick a clip and one of the 12 latents (4 per frame), set its value, and the learned linear
SEM carries the change to the latent's children; the clip is decoded again. The top row
shows the clip as encoded and decoded, the middle row after the intervention (with k more
frames rolled forward by the SEM, Fig. 7), and the square on the right superimposes the
intervened frames' sprites on black, frame 1 in red, 2 in white, 3 in green, as Fig. 6
draws them. The readout locates the sprite in every frame before and after.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as ipw
import numpy as np
import torch

from causalkit import semvae
from causalkit.core.validate import is_int, is_number
from causalkit.semvae.mario import FRAME_SIZE, MarioClips, sprite_position
from causalkit.semvae.temporal import TemporalCausalVAE, extrapolate, intervene
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.pointer import ValueStrip
from widgets.render import Tile, sheet_png, tile_sheet, upscale

BUDGET_MS = 50.0
MAX_AHEAD = 4
GREY = (120, 120, 120)
MOVED_PX = 1.0  # a sprite that moved less than this (in frame pixels) stayed put
CHALLENGE = Challenge(
    "Predict which frames move before you shift a latent; then find a latent that moves "
    f"nothing: shifted by 2 sd or more, the sprite stays within {MOVED_PX:g} pixel in every "
    "frame.",
    lambda frame: abs(frame.facts["value"]) >= 2 and not frame.facts["moved_frames"],
    "Not every latent is a position: this one leaves the sprite where it was, so the model "
    "spends it on something else, or on nothing (compare its row and column of the graph).",
)


def sprite_shifts(before: torch.Tensor, after: torch.Tensor) -> list[float]:
    """How far the sprite moved in each frame, in pixels; inf if it left or entered the frame."""
    shifts = []
    for p, q in zip(before, after, strict=True):
        gone = torch.isnan(p).any(), torch.isnan(q).any()
        shifts.append(0.0 if all(gone) else float("inf") if any(gone) else float((p - q).norm()))
    return shifts


TILE = 4 * FRAME_SIZE  # each frame is drawn TILE × TILE, nearest neighbour
_TINTS = np.array([[1.0, 0.2, 0.2], [1.0, 1.0, 1.0], [0.2, 1.0, 0.2]])  # frames 1, 2, 3


def sprite_overlay(sprites: torch.Tensor) -> np.ndarray:
    """Fig. 6's picture: the frames' sprites (T <= 3, 20, 20) in [0, 1], frame 1 red, 2 white,
    3 green, superimposed on black; (20, 20, 3) floats in [0, 1]."""
    tinted = np.zeros((*sprites.shape[1:], 3))
    for t, sprite in enumerate(sprites):
        tinted = np.maximum(tinted, sprite.clamp(0, 1).numpy()[..., None] * _TINTS[t])
    return tinted


class MarioIntervention:
    """The pure layer: (clip, latent, value, k) -> decoded frames before and after do().

    ``model`` is a trained temporal causal-prior VAE and ``clips`` the clips to pick from;
    :meth:`from_result` takes a result's selected model and held-out clips.
    """

    def __init__(self, model: TemporalCausalVAE, clips: MarioClips) -> None:
        if not isinstance(model, TemporalCausalVAE):
            raise ValueError(f"model must be a TemporalCausalVAE, got {type(model).__name__}")
        if not isinstance(clips, MarioClips) or len(clips) == 0:
            raise ValueError("clips must be a non-empty MarioClips")
        self.model = model.eval()
        self.clips = clips
        with torch.no_grad():
            mean, _ = model.encode(clips.frames)
        self.latents = mean.reshape(len(clips), -1)  # (N, 12) posterior means
        self.spread = self.latents.std(dim=0).clamp_min(1e-6)
        self.per_step = model.per_step
        self.graph = model.sem.graph()

    @classmethod
    def from_result(cls, result: semvae.Result) -> MarioIntervention:
        """The selected model of a result's λ sweep on its held-out clips (trained if not yet)."""
        if not isinstance(result, semvae.Result):
            raise ValueError(f"result must be a semvae.Result, got {type(result).__name__}")
        return cls(result.mario.model, result.eval_clips)

    @property
    def num_latents(self) -> int:
        return self.latents.shape[1]

    def children(self, index: int) -> list[int]:
        """Latents the SEM's discrete graph lets do(z_index) reach (its descendants)."""
        reach = {index}
        for j in range(index + 1, self.num_latents):
            if any(self.graph[i, j] for i in reach):
                reach.add(j)
        return sorted(reach - {index})

    @torch.no_grad()
    def intervene(self, clip: int, latent: int, value: float, ahead: int = 0) -> dict[str, object]:
        """do(z_latent = encoded value + ``value`` spreads) on clip ``clip``, decoded.

        ``value`` is in units of the latent's spread over the clips, relative to the clip's
        own encoded value, so 0 is no intervention. Returns the decoded frames before and
        after (after with ``ahead`` more frames rolled forward by the SEM), the sprites of
        the intervened frames (|frame - background|, mean over channels, (3, 20, 20)), and
        the sprite's positions in each.
        """
        if not (is_int(clip, 0) and clip < len(self.clips)):
            raise ValueError(f"clip must be an int in 0..{len(self.clips) - 1}, got {clip!r}")
        if not (is_int(latent, 0) and latent < self.num_latents):
            raise ValueError(f"latent must be an int in 0..{self.num_latents - 1}, got {latent!r}")
        if not (is_number(value) and np.isfinite(value)):
            raise ValueError(f"value must be finite, got {value!r}")
        if not (is_int(ahead, 0) and ahead <= MAX_AHEAD):
            raise ValueError(f"ahead must be an int in 0..{MAX_AHEAD}, got {ahead!r}")
        z = self.latents[clip : clip + 1]
        target = z[0, latent] + value * self.spread[latent]
        moved = intervene(self.model, z, latent, target)
        frames_z = moved.reshape(1, -1, self.per_step)
        if ahead:
            frames_z = torch.cat((frames_z, extrapolate(self.model, frames_z, ahead)), dim=1)
        background = self.clips.backgrounds[clip : clip + 1]
        before = self.model.decode(z.reshape(1, -1, self.per_step), background)
        after = self.model.decode(frames_z, background)
        # Fig. 6 decodes on black; this decoder never saw a black background, so the sprite
        # is shown as where each decoded frame differs from the clip's own background.
        sprites = (after[0, : self.model.num_frames] - background).abs().mean(dim=1)
        return {
            "before": before[0],
            "after": after[0],
            "sprites": sprites,
            "z_before": z[0],
            "z_after": moved[0],
            "where_before": sprite_position(before, background)[0],
            "where_after": sprite_position(after, background)[0],
        }

    def render(self, clip: int, latent: int, value: float, ahead: int = 0) -> Rendered:
        result = self.intervene(clip, latent, value, ahead)
        before, after = result["before"], result["after"]
        observed = before.shape[0]
        # Top row: the clip as encoded; bottom row: after do(), with the SEM's frames ahead
        # and Fig. 6's overlay. Blank cells keep each frame under its own time step.
        top: list[Tile | None] = [
            Tile(upscale(frame, TILE), f"t={t + 1}") for t, frame in enumerate(before)
        ]
        bottom = [
            Tile(upscale(frame, TILE), f"t={t + 1}" if t < observed else f"t={t + 1} (SEM)")
            for t, frame in enumerate(after)
        ]
        top += [None] * (len(bottom) - observed)
        bottom.append(Tile(upscale(sprite_overlay(result["sprites"]), TILE), "Fig. 6"))
        sheet, _ = tile_sheet([top, bottom])

        def where(xy: torch.Tensor) -> str:
            return ", ".join(
                "off-frame" if torch.isnan(p).any() else f"({p[0]:.0f}, {p[1]:.0f})" for p in xy
            )

        step, slot = divmod(latent, self.per_step)
        reached = self.children(latent)
        reach = ", ".join(f"z{j + 1}" for j in reached) if reached else "no other latent"
        shifts = sprite_shifts(result["where_before"], result["where_after"][:observed])
        moved = [t + 1 for t, shift in enumerate(shifts) if shift >= MOVED_PX]
        readout = (
            f"do(<b>z{latent + 1}</b> = {result['z_after'][latent]:.2f}) (frame {step + 1}, "
            f"latent {slot + 1}; encoded {result['z_before'][latent]:.2f}), reaches {reach}. "
            f"Sprite before: {where(result['where_before'])}; "
            f"after: {where(result['where_after'])}. Frames whose sprite moved: "
            f"<b>{', '.join(map(str, moved)) or 'none'}</b>."
        )
        facts = {"latent": latent, "value": value, "moved_frames": moved, "reaches": reached}
        return Rendered(sheet_png(sheet), readout, facts)


def mario_intervention_panel(view: MarioIntervention) -> Panel:
    """Controls: the clip, the latent, its value (in spreads from the encoded one), frames ahead."""
    controls = {
        "clip": ipw.IntSlider(0, min=0, max=len(view.clips) - 1, description="clip"),
        "latent": ipw.Dropdown(
            options=[(f"z{i + 1}", i) for i in range(view.num_latents)],
            value=0,
            description="latent",
        ),
        "value": ipw.FloatSlider(
            1.5, min=-3.0, max=3.0, step=0.25, description="shift (sd)", continuous_update=True
        ),
        "ahead": ipw.IntSlider(0, min=0, max=MAX_AHEAD, description="frames ahead"),
    }
    title = "Intervene on a Mario latent: do(z_i = v)"
    panel = Panel(controls, view.render, title, BUDGET_MS, challenge=CHALLENGE)
    # Drag the shift and watch the frames follow; the grey tick is no intervention.
    panel.value_strip = ValueStrip(
        panel, controls["value"], "shift (sd)", lambda frame: [(0.0, GREY)]
    )
    return panel


@register_panel("semvae_mario_intervention", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    # Trains the quick preset's Mario model when the cache is cold (minutes on a CPU).
    view = MarioIntervention.from_result(semvae.result(semvae.config("quick"), seed=0))
    return lambda i: view.render(
        (7 * i) % len(view.clips), i % view.num_latents, -3.0 + 0.5 * (i % 13), i % (MAX_AHEAD + 1)
    )
