"""The NCC playground in a real JupyterLab: a keyboard-moved slider and the swap checkbox."""

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


def test_ncc_noise_slider_and_swap(lab_server: LabServer, browser_session: BrowserSession) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, "notebooks/01_ncc.ipynb", timeout=90)
    run_all(page, timeout=300)

    before = text_of(page, READOUT, timeout=60)
    assert "the truth is X → Y" in before
    focus_and_press(page, f"{PANEL} .causalkit-control-noise", "ArrowRight", times=5)
    after_slider = wait_for_text_change(page, READOUT, before, timeout=30)
    assert "NCC: P(X → Y)" in after_slider

    page.locator(f"{PANEL} .causalkit-control-swap input").first.click()
    after_swap = wait_for_text_change(page, READOUT, after_slider, timeout=30)
    assert "the truth is Y → X" in after_swap
    browser_session.assert_no_errors()
