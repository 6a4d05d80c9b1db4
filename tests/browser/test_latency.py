"""Every panel's end-to-end latency is measurable in Chromium: each of 20 key presses on its
slider brings a new picture to the screen. The numbers, against their budgets, are
``make bench-browser``'s; a test asserts no timing (CI machines differ)."""

from __future__ import annotations

import pytest

from widgets.panel import load_all_panels

from .harness import BrowserSession, LabServer
from .latency import CASES, PRESSES, measure

pytestmark = pytest.mark.browser


def test_every_registered_panel_has_a_browser_case():
    assert {c.panel for c in CASES} == set(load_all_panels())


@pytest.mark.parametrize("case", CASES, ids=[c.panel for c in CASES])
def test_each_key_press_brings_a_new_picture(
    case, lab_server: LabServer, browser_session: BrowserSession
) -> None:
    samples = measure(browser_session.page, lab_server, case, PRESSES)
    assert len(samples) == PRESSES and all(s > 0 for s in samples), samples
    browser_session.assert_no_errors()
