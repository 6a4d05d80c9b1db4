"""The course site (``make book``) in Chromium: every page loads offline, without console
errors, with its plotly figures drawn, its images loaded and its panels' last frames shown.

Marked ``site``: ``make test`` runs it after the main suite (``pytest -m site``), so the
build reuses the notebooks the regression test just executed instead of running them again.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from causalkit.book import LIVE_NOTE, build
from causalkit.notebooks import NOTEBOOKS

from .harness import chromium_page

pytestmark = pytest.mark.site

PAGES = [
    "index.html",
    *(f"notebooks/{Path(s.filename).stem}.html" for s in NOTEBOOKS.values()),
    "notebooks/glossary.html",
    "instructors.html",
]

# Per page: plotly figures that drew at least one trace, images that loaded, widget views
# rendered by the bundled HTML manager, and the live-panel note.
PAGE_STATE_JS = """
() => {
  const figures = [...document.querySelectorAll('.plotly-graph-div')];
  // SVG traces, or the WebGL canvas plotly draws large scatters on (scattergl).
  const drawn = figures.filter(d => d._fullData && d._fullData.length > 0
      && d.querySelector('.main-svg') && (d.querySelector('.trace, .imagelayer image, .hm')
        || [...d.querySelectorAll('canvas.gl-canvas')].some(c => c.width > 0 && c.height > 0)));
  // A hidden image (a panel's grid before its button is pressed) shows nothing to load.
  const images = [...document.images].filter(i => i.getClientRects().length > 0);
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  return {
    figures: figures.length,
    drawn: drawn.length,
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
    views: views.length,
    rendered: document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets.widget-image, .widget-image').length,
    notes: [...document.querySelectorAll('.cell_output em')]
        .filter(e => e.textContent.startsWith('This panel is live')).length,
  };
}
"""


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    """The built site over HTTP on a free loopback port."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("book")
    index = build(root=root)
    return index.parent


def _expected(site: Path, page: str) -> dict[str, int]:
    """What the page's notebook holds: plotly figures, and panels (widget views that are not
    self-checks)."""
    source = site.parent / "source" / page.replace(".html", ".ipynb")
    if not source.is_file():
        return {"figures": 0, "panels": 0}
    cells = nbformat.read(source, as_version=4).cells
    outputs = [(c, o) for c in cells if c.cell_type == "code" for o in c.outputs]
    figures = sum(
        "plotly-graph-div" in str(o.get("data", {}).get("text/html", "")) for _, o in outputs
    )
    panels = sum(o.get("data", {}).get("text/markdown") == LIVE_NOTE for _, o in outputs)
    return {"figures": figures, "panels": panels}


def test_every_page_shows_its_figures_offline_without_errors(site, browser_available):
    seen, requested = {}, []
    with _serve(site) as url, chromium_page(executable_path=browser_available) as session:
        page = session.page
        session.context.on("request", lambda request: requested.append(request.url))
        for name in PAGES:
            assert (site / name).is_file(), f"the site has no {name}"
            page.goto(f"{url}/{name}", wait_until="networkidle")
            expected = _expected(site, name)
            if expected["figures"]:
                page.wait_for_function(
                    "n => [...document.querySelectorAll('.plotly-graph-div')]"
                    ".filter(d => d._fullData).length >= n",
                    arg=expected["figures"],
                    timeout=30_000,
                )
            if expected["panels"]:
                page.wait_for_selector(".widget-image, .jupyter-widgets", timeout=30_000)
            page.evaluate("() => { for (const i of document.images) i.loading = 'eager'; }")
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            state = page.evaluate(PAGE_STATE_JS)
            seen[name] = state
            assert state["figures"] == expected["figures"], (name, state, expected)
            assert state["drawn"] == state["figures"], f"{name}: a plotly figure drew nothing"
            assert not state["broken"], f"{name}: images did not load: {state['broken']}"
            assert state["notes"] == expected["panels"], (name, state, expected)
            if expected["panels"]:
                assert state["rendered"] >= expected["panels"], f"{name}: a panel did not render"
        session.assert_no_errors()
    elsewhere = [u for u in requested if not u.startswith((url, "data:", "blob:"))]
    assert not elsewhere, f"the site asked the network for {elsewhere}"
    # A request cut short by the next navigation (a late favicon) is not a failure.
    failed = [r for r in session.failed_requests if not r.endswith("net::ERR_ABORTED")]
    assert not failed, failed
    notebooks = [seen[p] for p in PAGES if p.startswith("notebooks/0")]
    assert sum(s["figures"] for s in notebooks) > 0, "no notebook page has a plotly figure"
    assert all(s["images"] > 0 for s in notebooks), "a notebook page shows no image"
