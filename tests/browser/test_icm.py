"""The ICM expert arena in a real JupyterLab: a mechanism chosen from a dropdown, a keyboard-moved slider."""

from __future__ import annotations

import pytest

from .harness import (
    BrowserSession,
    LabServer,
    focus_and_press,
    open_notebook,
    run_all,
    text_containing,
    text_of,
    wait_for_text_change,
)

pytestmark = pytest.mark.browser

PANEL = ".causalkit-panel"
READOUT = f"{PANEL} .causalkit-readout"


def test_icm_arena_mechanism_and_index(
    lab_server: LabServer, browser_session: BrowserSession
) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, "notebooks/03_icm.ipynb", timeout=90)
    run_all(page, timeout=300)

    before = text_of(page, READOUT, timeout=60)
    assert "through noise" in before and "winner expert" in before
    page.locator(f"{PANEL} .causalkit-control-mechanism select").first.select_option("invert")
    after_mechanism = wait_for_text_change(page, READOUT, before, timeout=30)
    assert "through invert" in after_mechanism

    focus_and_press(page, f"{PANEL} .causalkit-control-index", "ArrowRight", times=3)
    wait_for_text_change(page, READOUT, after_mechanism, timeout=30)
    after_index = text_containing(page, READOUT, "digit #3", timeout=30)
    assert "through invert" in after_index
    browser_session.assert_no_errors()
