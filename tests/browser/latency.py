"""End-to-end panel latency, as a student feels it: a key press on a panel's slider in
JupyterLab, to the new picture decoded and painted in Chromium.

``make bench-browser`` (``python -m tests.browser.latency``) prints every panel's browser
p50/p95 beside its Python render p95 (``python -m widgets bench``) and exits 1 when a panel is
over its budget: 150 ms, or the Python budget plus 50 ms for a panel whose Python render
alone is budgeted above 100 ms. ``tests/browser/test_latency.py`` runs the same measurement
in CI, without the timing bound. Each panel is shown on the quick preset's models from the
cache, in a scratch notebook (:func:`harness.scratch_notebook`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import harness

REPO_ROOT = Path(__file__).resolve().parents[2]

PRESSES = 20  # changes measured per panel
BROWSER_BUDGET_MS = 150.0
SLOW_RENDER_MS = 100.0  # a panel whose Python budget is above this gets that budget + 50 ms


@dataclass(frozen=True)
class Case:
    """How to show one registered panel and which slider to press."""

    panel: str  # its name in widgets.panel.PANELS
    source: str  # a notebook cell whose last line displays the panel
    control: str  # the slider pressed; every step of it draws a new picture


CASES = (
    Case(
        "tour_seeing_doing",
        "from widgets.tour import seeing_vs_doing_panel\npanel = seeing_vs_doing_panel()\npanel",
        "barometer",
    ),
    Case(
        "ncc_playground",
        "from causalkit import ncc\nfrom widgets.ncc import ncc_playground_panel\n"
        "panel = ncc_playground_panel(ncc.result(ncc.config('quick'), 0))\npanel",
        "draw",
    ),
    Case(
        "cfl_grating_manipulator",
        "from causalkit import cfl\nfrom widgets.cfl import manipulator_panel\n"
        "panel = manipulator_panel(cfl.result(cfl.config('quick'), 0))\npanel",
        "index",
    ),
    Case(
        "cfl_digit_manipulator",
        "from causalkit import cfl\nfrom widgets.cfl import manipulator_panel\n"
        "panel = manipulator_panel(cfl.result(cfl.config('quick'), 0))\n"
        "panel.controls['source'].value = 'digit'\npanel",
        "index",
    ),
    Case(
        "icm_expert_arena",
        "from causalkit import icm\nfrom widgets.icm import ExpertArena, expert_arena_panel\n"
        "panel = expert_arena_panel(ExpertArena.from_result(icm.result(icm.config('quick'), 0)))"
        "\npanel",
        "index",
    ),
    Case(
        "semvae_noise_traversal",
        "from causalkit import semvae\n"
        "from widgets.semvae_traversal import NoiseTraversal, noise_traversal_panel\n"
        "result = semvae.result(semvae.config('quick'), 0)\n"
        "panel = noise_traversal_panel(NoiseTraversal.from_result(result))\npanel",
        "n0",
    ),
    Case(
        "semvae_mario_intervention",
        "from causalkit import semvae\n"
        "from widgets.semvae_intervention import MarioIntervention, mario_intervention_panel\n"
        "result = semvae.result(semvae.config('quick'), 0)\n"
        "panel = mario_intervention_panel(MarioIntervention.from_result(result))\n"
        "panel.controls['value'].value = -3.0\npanel",
        "value",
    ),
    Case(
        "cgn_composer",
        "from causalkit import cgn\nfrom widgets.cgn_composer import cgn_composer_panel\n"
        "panel = cgn_composer_panel(cgn.result(cgn.config('quick'), 0).cgn('wildlife'))\npanel",
        "shape_seed",
    ),
)

# Each key press stamps performance.now(); when the figure's <img> gets a new src, the
# sample is taken once the new picture is decoded and the next frame is painted.
WATCH_JS = """(img) => {
  window.__causalkitLatency = {pressed: null, samples: []};
  const state = window.__causalkitLatency;
  document.addEventListener('keydown', () => { state.pressed = performance.now(); }, true);
  new MutationObserver(() => {
    const start = state.pressed;
    if (start === null) return;
    state.pressed = null;
    img.decode().then(() => requestAnimationFrame(
      () => state.samples.push(performance.now() - start)));
  }).observe(img, {attributes: true, attributeFilter: ['src']});
}"""


def budget_ms(python_budget_ms: float) -> float:
    """The browser budget of a panel whose Python render is budgeted ``python_budget_ms``."""
    if python_budget_ms > SLOW_RENDER_MS:
        return python_budget_ms + 50.0
    return BROWSER_BUDGET_MS


def measure(page, server: harness.LabServer, case: Case, presses: int = PRESSES) -> list[float]:
    """Milliseconds from each of ``presses`` ArrowRight presses to the new picture on screen.

    One press at a time, each after the previous picture arrived, as a student looks
    before pressing again.
    """
    with harness.scratch_notebook(server, case.source, f"latency-{case.panel}-") as path:
        harness.open_notebook(page, server, path, timeout=120)
        harness.run_all(page, timeout=600)  # a cold cache trains the quick models first
        panel = f".causalkit-panel:has(.causalkit-control-{case.control})"
        image = harness.wait_for(page, f"{panel} .causalkit-figure", timeout=60)
        image.evaluate(WATCH_JS)
        slider = harness.wait_for(page, f"{panel} .causalkit-control-{case.control}")
        handle = slider.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for count in range(1, presses + 1):
            handle.press("ArrowRight")
            page.wait_for_function(
                "n => window.__causalkitLatency.samples.length >= n", arg=count, timeout=30_000
            )
        samples = page.evaluate("() => window.__causalkitLatency.samples")
        server.shutdown_kernels()
    return [float(s) for s in samples]


def main(argv: list[str] | None = None) -> int:
    from widgets.bench import BENCH_RENDERS, time_panel
    from widgets.panel import load_all_panels

    parser = argparse.ArgumentParser(prog="python -m tests.browser.latency", description=__doc__)
    parser.add_argument("--presses", type=int, default=PRESSES, help="changes per panel")
    parser.add_argument("--panels", help="comma-separated panel names (default: all)")
    args = parser.parse_args(argv)
    if args.presses < 20:
        parser.error("--presses must be at least 20: a p95 of fewer says little")
    chosen = args.panels.split(",") if args.panels else [c.panel for c in CASES]
    unknown = set(chosen) - {c.panel for c in CASES}
    if unknown:
        parser.error(f"unknown panels {sorted(unknown)}; choose from {[c.panel for c in CASES]}")
    panels = load_all_panels()
    rows, over = [], []
    with (
        harness.lab_server(REPO_ROOT) as server,
        harness.chromium_page() as session,
    ):
        for case in (c for c in CASES if c.panel in chosen):
            python = time_panel(panels[case.panel].setup, renders=BENCH_RENDERS)
            browser = measure(session.page, server, case, args.presses)
            limit = budget_ms(panels[case.panel].budget_ms)
            p50, p95 = np.percentile(browser, [50, 95])
            rows.append((case.panel, float(np.percentile(python, 95)), p50, p95, limit))
            if p95 > limit:
                over.append(case.panel)
            print(f"measured {case.panel}", file=sys.stderr)
    print(f"{'panel':28} {'python p95':>11} {'browser p50':>12} {'browser p95':>12} {'budget':>7}")
    for name, python_p95, p50, p95, limit in rows:
        flag = "  OVER" if name in over else ""
        print(f"{name:28} {python_p95:9.1f}ms {p50:10.1f}ms {p95:10.1f}ms {limit:5.0f}ms{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
