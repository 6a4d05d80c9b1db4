"""NCC playground: build a cause-effect pair from §3.1's ingredients and watch NCC's verdict.

Choose the cause's mixture, the mechanism's knots, the noise and how heteroscedastic
it is, and the sample size; the scatter redraws and the trained NCC (Eq. 5) says
P(X → Y) next to the true direction, with two classical methods (IGCI, RECI) beside it.
The pairs come from the generator settings the displayed model was trained with.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as ipw
import numpy as np
import torch
from matplotlib.figure import Figure

from causalkit.core.validate import is_int
from causalkit.ncc.baselines import igci_slope, reci
from causalkit.ncc.experiment import Result
from causalkit.ncc.model import Scorer
from causalkit.ncc.synthetic import (
    MAX_COMPONENTS,
    GeneratorConfig,
    PairParams,
    draw_params,
    pair_from_params,
)
from widgets.panel import Challenge, Panel, Rendered, register_panel
from widgets.render import BlitFigure

BUDGET_MS = 100.0
N_KNOTS = 5  # d ~ RandomInteger(4, 5) in §3.1: the panel offers the larger one
LIMIT = 4.5  # standardised data: the axes show ±LIMIT
MIN_SPREAD = 0.1
POINTS = (50, 1000)  # a pair's size: the slider's range, and the most one render draws
CHALLENGE = Challenge(
    "Build a pair that NCC gets wrong: its bar turns red.",
    lambda frame: frame.facts["ncc_says"] != frame.facts["truth"],
    "NCC learned the footprints of the pairs it was trained on; a pair unlike them (a "
    "near-linear mechanism, little noise, few points) can fool it, as it fools IGCI and RECI.",
)
DRAWS = 20  # random draws of the unset parameters the slider offers (any seed >= 0 renders)


class PairBuilder:
    """Turns slider values into §3.1's :class:`PairParams`, keeping the random draws fixed.

    One draw of §3.1's parameters (:func:`draw_params`, the distribution training uses,
    with the model's ``generator``) per ``draw`` seed supplies what no slider sets: the
    mixture's unit means, unit standard deviations and weights, and the heteroscedastic
    spline's knots. Moving a slider changes only what it names.
    """

    def __init__(self, generator: GeneratorConfig, draw: int = 0) -> None:
        params = draw_params(1, np.random.default_rng(draw), generator)
        self.generator, self.draw = generator, draw
        self.unit_means = params.unit_means[0]
        self.unit_sds = np.abs(params.unit_sds[0])
        self.weights = params.raw_weights[0]
        self.hetero_shape = params.hetero_knots[0]

    def params(
        self,
        components: int,
        spread: float,
        knots: tuple[float, ...],
        noise: float,
        hetero: float,
        n_points: int,
    ) -> PairParams:
        """``spread`` stands for §3.1's r and s; ``hetero`` in [0, 1] blends a constant noise
        scale (0) into the drawn heteroscedastic spline (1)."""
        if not 1 <= components <= MAX_COMPONENTS:
            raise ValueError(f"components must be in 1..{MAX_COMPONENTS}, got {components}")
        g = self.generator
        if not 0 < spread <= spread_max(g) or not 0 <= hetero <= 1 or not 0 <= noise <= g.noise_max:
            raise ValueError(
                f"need spread in (0, {spread_max(g)}], noise in [0, {g.noise_max}], hetero in "
                f"[0, 1]; got {spread}, {noise}, {hetero}"
            )
        if len(knots) != N_KNOTS:
            raise ValueError(f"need {N_KNOTS} mechanism knots, got {len(knots)}")
        flat = np.full(len(self.hetero_shape), self.hetero_shape.mean())
        return PairParams(
            weights=self.weights[:components],
            means=spread * self.unit_means[:components],
            sds=spread * self.unit_sds[:components],
            mechanism_knots=np.asarray(knots, float),
            noise_level=noise,
            hetero_knots=(1 - hetero) * flat + hetero * self.hetero_shape,
            n_points=n_points,
        )


def spread_max(generator: GeneratorConfig) -> float:
    """The spread slider's top: §3.1's r, s ~ U[0, mixture_scale]."""
    return max(generator.mixture_scale, MIN_SPREAD)


class NccPlayground:
    """The pure layer: slider values -> the scatter and every method's verdict."""

    def __init__(self, model: Scorer, generator: GeneratorConfig) -> None:
        self.model, self.generator = model, generator
        self.builders: dict[int, PairBuilder] = {}
        self.fig = Figure(figsize=(6.4, 3.0), layout="constrained")
        scatter_ax, bar_ax = self.fig.subplots(1, 2, width_ratios=(2.2, 1))
        self.scatter = scatter_ax.scatter([], [], s=5, alpha=0.5, color="tab:blue", lw=0)
        scatter_ax.set(xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), xlabel="x", ylabel="y")
        self.title = scatter_ax.set_title(" ", fontsize=9)
        (self.bar,) = bar_ax.bar([0], [0.5], width=0.6, color="tab:red")
        bar_ax.axhline(0.5, color="0.4", lw=1, ls="--")
        bar_ax.set(xlim=(-0.6, 0.6), ylim=(0, 1), xticks=[], ylabel="NCC: P(X → Y), Eq. 5")
        bar_ax.set_yticks([0, 0.5, 1], ["0: Y → X", "0.5", "1: X → Y"], fontsize=8)
        self.frame = BlitFigure(self.fig, [self.scatter, self.title, self.bar])

    def render(
        self,
        components: int,
        spread: float,
        knot1: float,
        knot2: float,
        knot3: float,
        knot4: float,
        knot5: float,
        noise: float,
        hetero: float,
        n_points: int,
        draw: int,
        swap: bool,
    ) -> Rendered:
        if not (is_int(components) and is_int(n_points) and is_int(draw, 0)):
            raise ValueError(
                "components, n_points and draw must be integers (draw >= 0), got "
                f"{components!r}, {n_points!r}, {draw!r}"
            )
        if not POINTS[0] <= n_points <= POINTS[1]:
            raise ValueError(f"n_points must be in {POINTS[0]}..{POINTS[1]}, got {n_points}")
        if not isinstance(swap, (bool, np.bool_)):
            raise ValueError(f"swap must be True or False, got {swap!r}")
        if draw not in self.builders:
            self.builders[draw] = PairBuilder(self.generator, draw)
        knots = (knot1, knot2, knot3, knot4, knot5)
        params = self.builders[draw].params(components, spread, knots, noise, hetero, n_points)
        cause, effect = pair_from_params(params, seed=draw, config=self.generator)
        # ``swap`` shows (effect, cause): the same data, the true direction now Y → X.
        x, y = (effect, cause) if swap else (cause, effect)
        pairs = torch.from_numpy(np.stack([x, y], -1)[None].astype(np.float32))
        p_xy = float(self.model.probability_causal(pairs)[0])
        truth = "Y → X" if swap else "X → Y"
        ncc_says = "X → Y" if p_xy > 0.5 else "Y → X" if p_xy < 0.5 else "neither"
        verdicts = {"IGCI (slope)": igci_slope(x, y), "RECI": reci(x, y)}
        self.scatter.set_offsets(np.column_stack([x, y]))
        self.title.set_text(f"true direction: {truth}  ({n_points} points)")
        self.bar.set_height(p_xy)
        self.bar.set_color("tab:green" if ncc_says == truth else "tab:red")
        marks = {True: "✓", False: "✗"}
        others = ", ".join(
            f"{name} says {'X → Y' if score > 0 else 'Y → X'} {marks[(score > 0) != swap]}"
            for name, score in verdicts.items()
        )
        readout = (
            f"NCC: P(X → Y) = <b>{p_xy:.3f}</b>, so NCC says <b>{ncc_says}</b> "
            f"{marks[ncc_says == truth]}; the truth is <b>{truth}</b>.<br>{others}."
        )
        facts = {"p_xy": p_xy, "truth": truth, "ncc_says": ncc_says}
        return Rendered(self.frame.png(), readout, facts)


def _float_slider(name: str, value: float, low: float, high: float, step: float = 0.1):
    return ipw.FloatSlider(
        value, min=low, max=high, step=step, description=name, layout=ipw.Layout(width="300px")
    )


DEFAULT_KNOTS = (-1.0, 0.4, 1.2, 0.3, -0.8)


def ncc_playground_panel(run: Result) -> Panel:
    """Sliders for every ingredient of a §3.1 pair, within the ranges ``run``'s models were
    trained on; its NCC's verdict beside the truth."""
    renderer = NccPlayground(run.model, run.generator)
    noise_max = run.generator.noise_max
    top = spread_max(run.generator)
    controls = {
        "components": ipw.IntSlider(2, min=1, max=MAX_COMPONENTS, description="components"),
        "spread": _float_slider("spread r = s", min(2.0, top), MIN_SPREAD, top),
        **{
            f"knot{k + 1}": _float_slider(f"f knot {k + 1}", v, -2.5, 2.5)
            for k, v in enumerate(DEFAULT_KNOTS)
        },
        "noise": _float_slider(
            f"noise v ({run.generator.noise})",
            noise_max / 2,
            0.0,
            noise_max,
            noise_max / 50 or 0.01,
        ),
        "hetero": _float_slider("heterosc.", 0.5, 0.0, 1.0, 0.05),
        "n_points": ipw.IntSlider(500, *POINTS, step=50, description="points"),
        "draw": ipw.IntSlider(0, min=0, max=DRAWS, description="random draw"),
        "swap": ipw.Checkbox(False, description="show as (Y, X)"),
    }
    return Panel(
        controls, renderer.render, "NCC playground: build a pair", BUDGET_MS, challenge=CHALLENGE
    )


@register_panel("ncc_playground", budget_ms=BUDGET_MS)
def _benchmark() -> Callable[[int], Rendered]:
    from causalkit.ncc import config, result

    run = result(config("quick"), seed=0)
    renderer = NccPlayground(run.model, run.generator)
    rng = np.random.default_rng(0)
    settings = [
        dict(
            components=int(rng.integers(1, MAX_COMPONENTS + 1)),
            spread=float(rng.uniform(MIN_SPREAD, spread_max(run.generator))),
            **{f"knot{k + 1}": float(v) for k, v in enumerate(rng.normal(size=N_KNOTS))},
            noise=float(rng.uniform(0, run.generator.noise_max)),
            hetero=float(rng.uniform(0, 1)),
            n_points=int(rng.choice([100, 500, 1000])),
            draw=int(rng.integers(0, 5)),
            swap=bool(rng.integers(2)),
        )
        for _ in range(20)
    ]
    return lambda i: renderer.render(**settings[i % len(settings)])
