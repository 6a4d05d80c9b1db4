"""Tour panel: slide the barometer reading, and see that seeing is not doing."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as ipw
import numpy as np
from matplotlib.figure import Figure

from causalkit.core.validate import is_number
from causalkit.tour import BarometerWorld, sample_world, storm_given_done, storm_given_seen
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.render import BlitFigure

BUDGET_MS = 100.0
READING_RANGE = (-2.5, 2.5)
NEIGHBOURHOOD = 0.15  # readings this close to b count as "seeing b" in the scatter
CHALLENGE = Challenge(
    "Find a reading b at which seeing the barometer show b makes a storm at least 0.5 more "
    "likely than setting its needle to b does.",
    lambda frame: frame.facts["seen"] - frame.facts["done"] >= 0.5,
    "A low reading is evidence of low pressure, so seeing it predicts a storm; moving the "
    "needle changes no weather, so P(storm | do(B = b)) stays at P(storm).",
)


class SeeingDoingRenderer:
    """Draws the barometer world once, then only moves the markers for each reading.

    Left: samples of (reading, pressure), storms in red, those whose reading is near
    b highlighted. Right: P(storm | B = b) and P(storm | do(B = b)) over b.
    """

    def __init__(self, world: BarometerWorld | None = None, n_points: int = 400, seed: int = 0):
        self.world = world or BarometerWorld()
        sample = sample_world(self.world, n_points, np.random.default_rng(seed))
        self.readings, self.pressure = sample["reading"], sample["pressure"]
        storm = sample["storm"].astype(bool)
        self.fig = Figure(figsize=(7.5, 2.8), layout="constrained")
        scatter_ax, curve_ax = self.fig.subplots(1, 2)
        scatter_ax.scatter(self.readings, self.pressure, s=6, c=np.where(storm, "tab:red", "0.7"))
        self.near = scatter_ax.scatter([], [], s=14, facecolors="none", edgecolors="k", lw=0.6)
        self.scatter_line = scatter_ax.axvline(0.0, color="k", lw=1)
        scatter_ax.set(xlabel="barometer reading B", ylabel="pressure P", xlim=READING_RANGE)
        scatter_ax.set_title("samples (red: storm)", fontsize=9)
        grid = np.linspace(*READING_RANGE, 200)
        curve_ax.plot(grid, storm_given_seen(self.world, grid), label="seeing: P(S | B = b)")
        curve_ax.plot(grid, storm_given_done(self.world, grid), label="doing: P(S | do(B = b))")
        (self.seen_dot,) = curve_ax.plot([], [], "o", color="tab:blue")
        (self.done_dot,) = curve_ax.plot([], [], "o", color="tab:orange")
        curve_ax.set(xlabel="b", ylabel="P(storm)", ylim=(-0.02, 1.02), xlim=READING_RANGE)
        curve_ax.legend(fontsize=8, loc="upper right")
        self.frame = BlitFigure(
            self.fig, [self.near, self.scatter_line, self.seen_dot, self.done_dot]
        )

    def render(self, barometer: float) -> Rendered:
        lo, hi = READING_RANGE
        if not (is_number(barometer) and lo <= barometer <= hi):
            raise ValueError(f"barometer reading must be in [{lo}, {hi}], got {barometer}")
        close = np.abs(self.readings - barometer) < NEIGHBOURHOOD
        self.near.set_offsets(np.column_stack([self.readings[close], self.pressure[close]]))
        self.scatter_line.set_xdata([barometer, barometer])
        seen = float(storm_given_seen(self.world, barometer))
        done = float(storm_given_done(self.world, barometer))
        self.seen_dot.set_data([barometer], [seen])
        self.done_dot.set_data([barometer], [done])
        readout = (
            f"Seeing the barometer read <b>{barometer:+.2f}</b>: P(storm) = <b>{seen:.3f}</b>. "
            f"Forcing it to <b>{barometer:+.2f}</b>: P(storm) = <b>{done:.3f}</b>."
        )
        facts = {"barometer": barometer, "seen": seen, "done": done}
        return Rendered(self.frame.png(), readout, facts)


def seeing_vs_doing_panel(world: BarometerWorld | None = None) -> Panel:
    """The tour's live panel: one slider for the barometer reading."""
    renderer = SeeingDoingRenderer(world)
    slider = ipw.FloatSlider(
        value=0.0,
        min=READING_RANGE[0],
        max=READING_RANGE[1],
        step=0.1,
        description="barometer",
        continuous_update=True,
        layout=ipw.Layout(width="420px"),
    )
    return Panel(
        {"barometer": slider},
        renderer.render,
        "Seeing is not doing",
        BUDGET_MS,
        challenge=CHALLENGE,
    )


@register_panel("tour_seeing_doing", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    renderer = SeeingDoingRenderer()
    readings = np.linspace(*READING_RANGE, 51)
    return lambda i: renderer.render(float(readings[i % len(readings)]))
