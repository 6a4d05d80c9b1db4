"""The CFL manipulator panel in a real JupyterLab: keyboard on ĉ, a click on an edit button."""

from __future__ import annotations

import pytest

from .harness import (
    BrowserSession,
    LabServer,
    focus_and_press,
    open_notebook,
    run_all,
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
    after_slider = wait_for_text_change(page, READOUT, before, timeout=30)
    assert "target ĉ = 0.50" in after_slider

    page.locator(f"{PANEL} .causalkit-action-draw").first.click()  # draw an h-bar in row 0
    after_edit = wait_for_text_change(page, READOUT, after_slider, timeout=30)
    assert "h-bar yes" in after_edit
    browser_session.assert_no_errors()
