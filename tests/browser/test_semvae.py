"""The causal-prior VAE's two panels in a real JupyterLab: noise traversal and Mario interventions."""

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

TRAVERSAL = ".causalkit-panel:has(.causalkit-control-sweep)"
MARIO = ".causalkit-panel:has(.causalkit-control-ahead)"


def test_semvae_traversal_and_intervention(
    lab_server: LabServer, browser_session: BrowserSession
) -> None:
    page = browser_session.page
    open_notebook(page, lab_server, "notebooks/04_semvae.ipynb", timeout=90)
    run_all(page, timeout=300)

    readout = f"{TRAVERSAL} .causalkit-readout"
    before = text_of(page, readout, timeout=60)
    assert "σ" in before
    focus_and_press(page, f"{TRAVERSAL} .causalkit-control-n0", "ArrowRight", times=5)
    after = wait_for_text_change(page, readout, before, timeout=30)
    assert after != before

    readout = f"{MARIO} .causalkit-readout"
    before = text_of(page, readout, timeout=60)
    assert "do(z1" in before
    page.locator(f"{MARIO} .causalkit-control-latent select").first.select_option("z6")
    after_latent = wait_for_text_change(page, readout, before, timeout=30)
    assert "do(z6" in after_latent
    focus_and_press(page, f"{MARIO} .causalkit-control-ahead", "ArrowRight", times=2)
    after_ahead = wait_for_text_change(page, readout, after_latent, timeout=30)
    assert after_ahead.count("off-frame") + after_ahead.count("(") > after_latent.count("(")
    browser_session.assert_no_errors()
