"""The CFL manipulator panel in a real JupyterLab: keyboard on ĉ, a click on an edit button."""

from __future__ import annotations

import json
import re

import pytest

from .harness import (
    BrowserSession,
    LabServer,
    focus_and_press,
    open_notebook,
    run_all,
    scratch_notebook,
    text_containing,
    text_of,
    wait_for_text_change,
)

pytestmark = pytest.mark.browser

PANEL = ".causalkit-panel"
READOUT = f"{PANEL} .causalkit-readout"


def test_cfl_target_slider_and_edit_button(
    lab_server: LabServer, browser_session: BrowserSession
) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, "notebooks/02_cfl.ipynb", timeout=90)
    run_all(page, timeout=300)

    before = text_of(page, READOUT, timeout=60)
    assert "C(original)" in before
    focus_and_press(page, f"{PANEL} .causalkit-control-target", "ArrowRight", times=10)
    after_slider = text_containing(page, READOUT, "target ĉ = 0.50", timeout=30)

    page.locator(f"{PANEL} .causalkit-action-draw").first.click()  # draw an h-bar in row 0
    after_edit = wait_for_text_change(page, READOUT, after_slider, timeout=30)
    assert "h-bar yes" in after_edit
    browser_session.assert_no_errors()


DRAW_SOURCE = """\
import json
from causalkit import cfl
from widgets.cfl import manipulator_panel

result = cfl.result(cfl.config("quick"), 0)
panel = manipulator_panel(result)
for i in range(40):  # an image without an h-bar
    panel.controls["index"].value = i
    if not panel.frame.facts["hbar"][0]:
        break
print(json.dumps({"origin": panel.frame.facts["origin"], "side": result.grating[0].world.side}))
panel"""

P_T = re.compile(r"P\(T \| man\(I\)\) = ([0-9.]+)")


def test_cfl_mouse_draws_an_h_bar_and_the_causal_class_changes(
    lab_server: LabServer, browser_session: BrowserSession
) -> None:
    """Drag across a row of the original GRATING image with the mouse: the readout then says
    the original has an h-bar, and the oracle's P(T | I) rises."""
    from widgets.cfl import GRATING_SCALE

    page = browser_session.page
    with scratch_notebook(lab_server, DRAW_SOURCE, "browser-cfl-") as path:
        open_notebook(page, lab_server, path, timeout=90)
        run_all(page, timeout=600)
        layout = json.loads(text_of(page, ".jp-OutputArea-output pre", timeout=60))
        before = text_of(page, READOUT, timeout=60)
        assert "h-bar no →" in before, before
        figure = page.locator(f"{PANEL} img.causalkit-figure").first
        box = figure.bounding_box()
        natural = figure.evaluate("img => img.naturalWidth")
        scale = box["width"] / natural
        left, top = layout["origin"]
        y = box["y"] + (top + 2.5 * GRATING_SCALE) * scale
        xs = [box["x"] + (left + (c + 0.5) * GRATING_SCALE) * scale for c in range(layout["side"])]
        page.mouse.move(xs[0], y)
        page.mouse.down()
        for x in xs[1:]:
            page.mouse.move(x, y, steps=2)
        page.mouse.up()
        after = text_containing(page, READOUT, "h-bar yes →", timeout=30)
        p_before, p_after = float(P_T.search(before)[1]), float(P_T.search(after)[1])
        assert p_after > p_before + 0.2, (before, after)
        browser_session.assert_no_errors()
