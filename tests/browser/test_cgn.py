"""The CGN live composer in a real JupyterLab: a keyboard-moved class slider, the grid button.

The panel is built on an untrained CGN (``demo_cgn``) in a scratch notebook written under
the served root's ``runs/`` (git-ignored) and removed afterwards, so the test trains nothing.
CAUSALKIT_CGN_NOTEBOOK (path relative to the served root) opens another notebook instead;
it must show one panel made by ``cgn_composer_panel`` with its controls at their defaults.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from widgets.cgn_composer import grid_size

from . import harness
from .harness import (
    BrowserSession,
    LabServer,
    focus_and_press,
    open_notebook,
    run_all,
    text_containing,
    text_of,
    wait_for,
    wait_for_text_change,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

PANEL = ".causalkit-panel:has(.causalkit-action-grid)"
READOUT = f"{PANEL} .causalkit-readout"
FIGURE = f"{PANEL} .causalkit-figure"
GRID = f"{PANEL} .causalkit-grid"
GRID_READOUT = f"{PANEL} .causalkit-grid-readout"

NOTEBOOK_SOURCE = """\
from widgets.cgn_composer import cgn_composer_panel, demo_cgn

# An untrained CGN: real mechanism outputs of the right shapes, nothing learned.
panel = cgn_composer_panel(demo_cgn(seed=0), title="CGN composer (untrained)")
panel"""

IMAGE_JS = """(el) => {
  const img = el.tagName === 'IMG' ? el : el.querySelector('img');
  return img && img.complete ? {src: img.src, width: img.naturalWidth} : null;
}"""


@pytest.fixture
def cgn_notebook(lab_server: LabServer) -> Iterator[str]:
    """Path (relative to the served root) of a notebook that shows the composer panel."""
    chosen = os.environ.get("CAUSALKIT_CGN_NOTEBOOK")
    if chosen:
        yield chosen
        return
    with harness.scratch_notebook(lab_server, NOTEBOOK_SOURCE, "browser-cgn-") as path:
        yield path


def _image(page: Page, selector: str, other_than: str = "", timeout: float = 30.0) -> dict:
    """src and natural width of the decoded image ``selector`` once its src is not ``other_than``."""
    element = wait_for(page, selector, timeout=timeout)
    deadline = time.monotonic() + timeout
    image = None
    while time.monotonic() < deadline:
        image = element.evaluate(IMAGE_JS)
        if image and image["width"] > 0 and image["src"] != other_than:
            return image
        page.wait_for_timeout(200)
    raise AssertionError(f"{selector} showed no new decoded image in {timeout:.0f}s: {image}")


def test_cgn_composer_slider_and_grid(
    lab_server: LabServer, browser_session: BrowserSession, cgn_notebook: str
) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, cgn_notebook, timeout=90)
    run_all(page, timeout=300)

    before = text_of(page, READOUT, timeout=60)
    assert "not a counterfactual" in before and "μmask" in before
    figure = _image(page, FIGURE)

    focus_and_press(page, f"{PANEL} .causalkit-control-shape", "ArrowRight", times=3)
    wait_for_text_change(page, READOUT, before, timeout=30)
    text_containing(page, READOUT, "shape 3, texture 0, background 0: counterfactual")
    _image(page, FIGURE, other_than=figure["src"])  # the picture follows the slider

    page.locator(f"{PANEL} .causalkit-action-grid").first.click()
    caption = wait_for_text_change(page, GRID_READOUT, "", timeout=60)
    assert "10 × 10 counterfactual grid" in caption and "background class 0" in caption
    grid = _image(page, GRID)
    assert grid["width"] == grid_size(10, 10)[0], f"grid image: {grid}"
    browser_session.assert_no_errors()


def test_cgn_app_in_voila_follows_a_slider(browser_available: Path) -> None:
    """make app NB=cgn: the composer of the quick preset's Wildlife CGN (trained earlier in
    this chain) served by Voilà, without code; moving a slider changes the picture."""
    with (
        harness.app_server("cgn") as app,
        harness.chromium_page(executable_path=browser_available) as session,
    ):
        page = session.page
        page.goto(app.url())
        before = text_of(page, READOUT, timeout=120)
        assert "quick preset" in text_of(page, ".causalkit-panel", timeout=30)
        assert (
            page.locator(f"{PANEL} .causalkit-control-variant button").first.inner_text()
            == "wildlife"
        )
        assert not page.locator(".jp-InputArea-editor").count(), "Voilà should hide the code"
        figure = _image(page, FIGURE)
        focus_and_press(page, f"{PANEL} .causalkit-control-shape", "ArrowRight", times=3)
        wait_for_text_change(page, READOUT, before, timeout=30)
        text_containing(page, READOUT, "shape 3")
        _image(page, FIGURE, other_than=figure["src"])
        session.assert_no_errors()


def test_cgn_thumbnail_click_picks_the_texture_class(
    lab_server: LabServer, browser_session: BrowserSession, cgn_notebook: str
) -> None:
    """A click on the texture strip's thumbnail of class 5 sets the texture class: the readout
    and the composite follow."""
    from widgets.cgn_composer import _STRIP_GAP, THUMB

    page = browser_session.page
    open_notebook(page, lab_server, cgn_notebook, timeout=90)
    run_all(page, timeout=300)
    before = text_of(page, READOUT, timeout=60)
    figure = _image(page, FIGURE)
    strip = wait_for(page, f"{PANEL} img.causalkit-strip-foreground", timeout=30)
    box = strip.bounding_box()
    scale = box["width"] / strip.evaluate("img => img.naturalWidth")
    x = box["x"] + (5 * (THUMB + _STRIP_GAP) + _STRIP_GAP // 2 + THUMB // 2) * scale
    page.mouse.click(x, box["y"] + (_STRIP_GAP // 2 + THUMB // 2) * scale)
    wait_for_text_change(page, READOUT, before, timeout=30)
    text_containing(page, READOUT, "shape 0, texture 5, background 0: counterfactual")
    _image(page, FIGURE, other_than=figure["src"])
    browser_session.assert_no_errors()
