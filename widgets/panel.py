"""The two layers every panel has, and the registry ``python -m widgets bench`` times.

A panel is a *pure render function* (controls in, :class:`Rendered` out: a PNG and
a short HTML readout) that can be tested and timed without a browser, plus a thin
:class:`Panel` that wires ipywidgets controls to it and shows the result with its
latency. Widgets never train: they take a trained model and render.

DOM classes (for the browser tests): the root box has ``causalkit-panel``; each
control ``causalkit-control-<name>``; the image ``causalkit-figure`` (and
``causalkit-stale`` while it shows an older setting); the readout ``causalkit-readout``;
the latency line ``causalkit-latency``; a render error ``causalkit-error``; the challenge
``causalkit-challenge`` (``causalkit-challenge-met`` once met).
"""

from __future__ import annotations

import html
import importlib
import pkgutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as ipw


@dataclass(frozen=True)
class Rendered:
    """One frame of a panel: the picture and the numbers that go with it."""

    png: bytes
    readout: str  # HTML
    facts: Mapping[str, Any] = field(default_factory=dict)  # what a challenge checks


@dataclass(frozen=True)
class Challenge:
    """One question a panel asks, with an answer it checks on every frame."""

    text: str  # what to find
    met: Callable[[Rendered], bool]  # whether this frame answers it
    found: str  # what the student has found, said once it is met


@dataclass(frozen=True)
class PanelBenchmark:
    """How ``bench`` exercises a panel: ``setup()`` returns ``step(i)``, one render per call."""

    name: str
    budget_ms: float
    setup: Callable[[], Callable[[int], Rendered]]


PANELS: dict[str, PanelBenchmark] = {}


def register_panel(
    name: str, budget_ms: float
) -> Callable[[Callable[[], Callable[[int], Rendered]]], Callable[[], Callable[[int], Rendered]]]:
    """Decorator: register a panel's benchmark setup under ``name`` with its latency budget.

    The setup builds whatever the panel needs (trained model from the cache, data)
    and returns ``step(i)``, which renders the i-th of a varied sequence of control
    settings, so ``bench`` measures renders a person would actually trigger.
    """
    if budget_ms <= 0:
        raise ValueError(f"budget_ms must be positive, got {budget_ms}")

    def decorate(setup: Callable[[], Callable[[int], Rendered]]):
        if name in PANELS and PANELS[name].setup.__qualname__ != setup.__qualname__:
            raise ValueError(f"a panel called {name!r} is already registered")
        PANELS[name] = PanelBenchmark(name, budget_ms, setup)
        return setup

    return decorate


def load_all_panels() -> dict[str, PanelBenchmark]:
    """Import every module of the ``widgets`` package so that each panel registers itself."""
    import widgets

    for module in pkgutil.iter_modules(widgets.__path__):
        if module.name != "__main__":  # the command line, not a panel
            importlib.import_module(f"widgets.{module.name}")
    return PANELS


STALE_BORDER = "3px dashed #d22828"  # around a picture that shows an older setting


class Panel:
    """Controls above, picture and readout below; re-renders whenever a control moves."""

    def __init__(
        self,
        controls: Mapping[str, ipw.ValueWidget],
        render: Callable[..., Rendered],
        title: str = "",
        budget_ms: float | None = None,
        extra: Sequence[ipw.Widget] = (),
        challenge: Challenge | None = None,
    ) -> None:
        """``extra`` widgets (buttons, say) go under the controls; they call :meth:`refresh`.
        A ``challenge`` is shown above the controls and marked met once a frame answers it."""
        self.controls = dict(controls)
        self._render = render
        self.budget_ms = budget_ms
        self.figure = ipw.Image(format="png")
        self.readout = ipw.HTML()
        self.latency = ipw.HTML()
        self.error = ipw.HTML(layout=ipw.Layout(display="none"))
        self.last_error: Exception | None = None
        self.challenge = challenge
        self.challenge_met = False
        self.challenge_box = ipw.HTML()
        self.frame: Rendered | None = None  # the frame on screen
        self._listeners: list[Callable[[Rendered], None]] = []
        self.last_render_ms = float("nan")
        for name, control in self.controls.items():
            control.add_class(f"causalkit-control-{name}")
            control.observe(self._on_change, names="value")
        self.figure.add_class("causalkit-figure")
        self.readout.add_class("causalkit-readout")
        self.latency.add_class("causalkit-latency")
        self.error.add_class("causalkit-error")
        self.challenge_box.add_class("causalkit-challenge")
        header = [ipw.HTML(f"<b>{title}</b>")] if title else []
        # Wrap, so a panel with many controls stays inside the notebook's width.
        controls_row = ipw.HBox(
            list(self.controls.values()), layout=ipw.Layout(flex_flow="row wrap")
        )
        children = [
            *header,
            *([self.challenge_box] if challenge else []),
            controls_row,
            *extra,
            self.error,
            self.figure,
            self.readout,
            self.latency,
        ]
        self.widget = ipw.VBox(children)
        self.widget.add_class("causalkit-panel")
        # The first frame is drawn here: if it fails there is no picture to keep, so the
        # notebook cell that built the panel raises.
        self._show(self._render(**self.values()), time.perf_counter())

    def values(self) -> dict[str, object]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Rendered | None:
        """Render with the controls' current values and show the result.

        A setting that cannot be drawn leaves the last good picture, marked stale, and says
        why inside the panel, where the student is looking (returns None then).
        """
        start = time.perf_counter()
        try:
            frame = self._render(**self.values())
        except Exception as err:  # shown in the panel: an error in a callback reaches no cell
            self._show_error(err)
            return None
        self._show(frame, start)
        return frame

    def on_frame(self, listener: Callable[[Rendered], None]) -> None:
        """Call ``listener(frame)`` after each new frame is shown (and now, with this one)."""
        self._listeners.append(listener)
        if self.frame is not None:
            listener(self.frame)

    def _show(self, frame: Rendered, start: float) -> None:
        self.last_render_ms = (time.perf_counter() - start) * 1000
        self.frame = frame
        self.figure.value = frame.png
        self.readout.value = frame.readout
        budget = f" (budget {self.budget_ms:.0f} ms)" if self.budget_ms else ""
        self.latency.value = f"<small>rendered in {self.last_render_ms:.0f} ms{budget}</small>"
        if self.challenge:
            self._check_challenge(frame)
        for listener in self._listeners:
            listener(frame)
        if self.last_error is not None:
            self.last_error = None
            self.error.layout.display = "none"
            self.figure.layout.border = None
            self.figure.remove_class("causalkit-stale")

    def _check_challenge(self, frame: Rendered) -> None:
        """Met once, met for good: moving on afterwards does not take the tick away."""
        if not self.challenge_met and self.challenge.met(frame):
            self.challenge_met = True
            self.challenge_box.add_class("causalkit-challenge-met")
        status = (
            f"<span style='color:#1e7e34'>&#10003; Met. {html.escape(self.challenge.found)}</span>"
            if self.challenge_met
            else "<span style='color:#666'>Not met yet.</span>"
        )
        self.challenge_box.value = (
            "<div style='border-left:4px solid #1f77b4;padding:2px 8px;margin:4px 0'>"
            f"<b>Challenge:</b> {html.escape(self.challenge.text)}<br>{status}</div>"
        )

    def _show_error(self, err: Exception) -> None:
        self.last_error = err
        message = html.escape(f"{type(err).__name__}: {err}")
        self.error.value = (
            f"<div style='color:#a01818'>&#9888; <b>This setting cannot be drawn</b>: "
            f"{message}<br>The picture and numbers below are from the last setting that "
            "worked.</div>"
        )
        self.error.layout.display = None
        self.figure.layout.border = STALE_BORDER
        self.figure.add_class("causalkit-stale")

    def _on_change(self, _change: dict) -> None:
        self.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
