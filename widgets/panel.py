"""The two layers every panel has, and the registry ``python -m widgets bench`` times.

A panel is a *pure render function* (controls in, :class:`Rendered` out: a PNG and
a short HTML readout) that can be tested and timed without a browser, plus a thin
:class:`Panel` that wires ipywidgets controls to it and shows the result with its
latency. Widgets never train: they take a trained model and render.

DOM classes (for the browser tests): the root box has ``causalkit-panel``; each
control ``causalkit-control-<name>``; the image ``causalkit-figure``; the readout
``causalkit-readout``; the latency line ``causalkit-latency``.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as ipw


@dataclass(frozen=True)
class Rendered:
    """One frame of a panel: the picture and the numbers that go with it."""

    png: bytes
    readout: str  # HTML


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


class Panel:
    """Controls above, picture and readout below; re-renders whenever a control moves."""

    def __init__(
        self,
        controls: Mapping[str, ipw.ValueWidget],
        render: Callable[..., Rendered],
        title: str = "",
        budget_ms: float | None = None,
        extra: Sequence[ipw.Widget] = (),
    ) -> None:
        """``extra`` widgets (buttons, say) go under the controls; they call :meth:`refresh`."""
        self.controls = dict(controls)
        self._render = render
        self.budget_ms = budget_ms
        self.figure = ipw.Image(format="png")
        self.readout = ipw.HTML()
        self.latency = ipw.HTML()
        self.last_render_ms = float("nan")
        for name, control in self.controls.items():
            control.add_class(f"causalkit-control-{name}")
            control.observe(self._on_change, names="value")
        self.figure.add_class("causalkit-figure")
        self.readout.add_class("causalkit-readout")
        self.latency.add_class("causalkit-latency")
        header = [ipw.HTML(f"<b>{title}</b>")] if title else []
        # Wrap, so a panel with many controls stays inside the notebook's width.
        controls_row = ipw.HBox(
            list(self.controls.values()), layout=ipw.Layout(flex_flow="row wrap")
        )
        children = [*header, controls_row, *extra, self.figure, self.readout, self.latency]
        self.widget = ipw.VBox(children)
        self.widget.add_class("causalkit-panel")
        self.refresh()

    def values(self) -> dict[str, object]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Rendered:
        """Render with the controls' current values and show the result."""
        start = time.perf_counter()
        frame = self._render(**self.values())
        self.last_render_ms = (time.perf_counter() - start) * 1000
        self.figure.value = frame.png
        self.readout.value = frame.readout
        budget = f" (budget {self.budget_ms:.0f} ms)" if self.budget_ms else ""
        self.latency.value = f"<small>rendered in {self.last_render_ms:.0f} ms{budget}</small>"
        return frame

    def _on_change(self, _change: dict) -> None:
        self.refresh()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
