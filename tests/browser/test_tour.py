"""The tour notebook's panel works in a real JupyterLab: a keyboard-moved slider updates it.

Contract with notebooks/00_tour.ipynb: a box with DOM class ``causalkit-panel`` holds a
FloatSlider ``causalkit-control-barometer``, an HTML readout ``causalkit-readout`` whose
text follows the slider, and an Image ``causalkit-figure``.
CAUSALKIT_TOUR_NOTEBOOK (path relative to the served root) points the test elsewhere.
"""

from __future__ import annotations

import os

import pytest

from .harness import (
    BrowserSession,
    LabServer,
    focus_and_press,
    open_notebook,
    run_all,
    text_of,
    wait_for,
    wait_for_text_change,
)

pytestmark = pytest.mark.browser

TOUR = os.environ.get("CAUSALKIT_TOUR_NOTEBOOK", "notebooks/00_tour.ipynb")
PANEL = ".causalkit-panel"
SLIDER = f"{PANEL} .causalkit-control-barometer"
READOUT = f"{PANEL} .causalkit-readout"
FIGURE = f"{PANEL} .causalkit-figure"

IMAGE_DECODED_JS = """(el) => {
  const img = el.tagName === 'IMG' ? el : el.querySelector('img');
  return !!img && img.complete && img.naturalWidth > 0;
}"""


def test_tour_slider_moves_readout(lab_server: LabServer, browser_session: BrowserSession) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, TOUR, timeout=90)
    run_all(page, timeout=120)

    before = text_of(page, READOUT, timeout=60)
    assert before, f"{READOUT} rendered but is empty"
    figure = wait_for(page, FIGURE, timeout=30)
    assert figure.evaluate(IMAGE_DECODED_JS), f"{FIGURE} is not a decoded image"

    handle = wait_for(page, f"{SLIDER} .noUi-handle")
    value = float(handle.get_attribute("aria-valuenow") or "nan")
    at_max = value >= float(handle.get_attribute("aria-valuemax") or "inf")
    key = "ArrowLeft" if at_max else "ArrowRight"  # a slider parked at max cannot go right
    focus_and_press(page, SLIDER, key, times=3)

    after = wait_for_text_change(page, READOUT, before, timeout=30)
    moved = float(handle.get_attribute("aria-valuenow") or "nan")
    assert moved != value, f"slider stayed at {value} after 3x {key}"
    assert after != before, f"readout did not follow the slider ({value} -> {moved}): {after!r}"
    browser_session.assert_no_errors()
