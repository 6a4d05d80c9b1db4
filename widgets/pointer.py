"""Pointer input on a panel's picture: press, drag and release, in the picture's own pixels.

ipyevents reports mouse events on an ``ipywidgets.Image`` with ``dataX``/``dataY`` in the
image's natural pixels, whatever size the browser draws it at, in JupyterLab and in Voilà
alike. Presses and releases arrive unthrottled; moves are throttled, so a drag costs at most
one render per ``MOVE_EVERY_MS``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as ipw
from ipyevents import Event
from PIL import Image, ImageDraw

from widgets.panel import Panel, Rendered
from widgets.render import BLACK, FONT, WHITE, Colour, sheet_png

MOVE_EVERY_MS = 40
Handler = Callable[[int, int], None]


class Pointer:
    """Calls ``on_press(x, y)`` on a press, ``on_drag(x, y)`` for each move while a button is
    held, and ``on_release()`` when it is let go or the pointer leaves the picture."""

    def __init__(
        self,
        image: ipw.Image,
        on_press: Handler,
        on_drag: Handler | None = None,
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self.on_press, self.on_drag, self.on_release = on_press, on_drag, on_release
        self.held = False
        # The browser's own drag of an <img> would swallow the moves.
        self.clicks = Event(
            source=image,
            watched_events=["mousedown", "mouseup", "mouseleave", "dragstart"],
            prevent_default_action=True,
        )
        self.clicks.on_dom_event(self._on_click)
        self.moves = Event(
            source=image,
            watched_events=["mousemove"],
            throttle_or_debounce="throttle",
            wait=MOVE_EVERY_MS,
        )
        self.moves.on_dom_event(self._on_move)
        image.add_class("causalkit-pointer")

    def _on_click(self, event: dict) -> None:
        if event["type"] == "mousedown" and event.get("button", 0) == 0:
            self.held = True
            self.on_press(int(event["dataX"]), int(event["dataY"]))
        elif event["type"] in ("mouseup", "mouseleave") and self.held:
            self.held = False
            if self.on_release:
                self.on_release()

    def _on_move(self, event: dict) -> None:
        if self.held and self.on_drag and event.get("buttons", 0) & 1:
            self.on_drag(int(event["dataX"]), int(event["dataY"]))


class ValueStrip:
    """A strip under a panel's picture for dragging one slider: it spans the slider's range, a
    press or a drag on it sets the slider (snapped to its step, which renders), and it redraws
    after every frame with a handle at the value and a tick at each of ``marks(frame)``."""

    SIZE = (320, 34)  # width, height in pixels

    def __init__(
        self,
        panel: Panel,
        control: ipw.FloatSlider,
        label: str,
        marks: Callable[[Rendered], Sequence[tuple[float, Colour]]] = lambda frame: (),
    ) -> None:
        # The slider's own range and step, so the strip and the slider cannot disagree.
        self.control, self.low, self.high, self.step = (
            control,
            control.min,
            control.max,
            control.step,
        )
        self.label, self.marks = label, marks
        self.image = ipw.Image(format="png")
        self.image.add_class("causalkit-value-strip")
        self.pointer = Pointer(self.image, on_press=self._move, on_drag=self._move)
        panel.on_frame(self._show)
        children = list(panel.widget.children)
        children.insert(children.index(panel.figure) + 1, self.image)
        panel.widget.children = tuple(children)

    def value_at(self, x: int) -> float:
        """The control's value at strip pixel ``x``, snapped to the step."""
        fraction = min(max(x / (self.SIZE[0] - 1), 0.0), 1.0)
        steps = round(fraction * (self.high - self.low) / self.step)
        return round(self.low + steps * self.step, 6)

    def x_of(self, value: float) -> int:
        return round((value - self.low) / (self.high - self.low) * (self.SIZE[0] - 1))

    def _move(self, x: int, _y: int) -> None:
        self.control.value = self.value_at(x)

    def _show(self, frame: Rendered) -> None:
        width, height = self.SIZE
        strip = Image.new("RGB", self.SIZE, WHITE)
        draw = ImageDraw.Draw(strip)
        top, bottom = 14, height - 4
        draw.rectangle((0, top, width - 1, bottom), outline=(150, 150, 150), fill=(240, 240, 240))
        for value, colour in self.marks(frame):
            x = self.x_of(value)
            draw.rectangle((x - 1, top, x + 1, bottom), fill=colour)
        x = self.x_of(self.control.value)
        draw.polygon([(x - 6, top - 1), (x + 6, top - 1), (x, bottom - 4)], fill=BLACK)
        draw.text((0, 0), f"{self.low:g}", fill=BLACK, font=FONT)
        draw.text((width - 12, 0), f"{self.high:g}", fill=BLACK, font=FONT)
        text = f"{self.label} = {self.control.value:g}: press or drag here"
        draw.text((width // 2 - 90, 0), text, fill=BLACK, font=FONT)
        self.image.value = sheet_png(strip)
