"""Fixtures for real-browser tests: one JupyterLab per session, one fresh Chromium per test.

Browser tests skip when Chromium (/usr/bin/chromium, or $CAUSALKIT_CHROMIUM) or playwright
is missing, so the suite still passes on a bare machine; set CAUSALKIT_REQUIRE_BROWSER=1
(CI) to turn that skip into a failure.  CAUSALKIT_BROWSER_ROOT overrides the directory
JupyterLab serves (default: the repo root), e.g. to try the harness on a scratch notebook.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from . import harness
from .harness import CHROMIUM_PATH, BrowserSession, LabServer

if TYPE_CHECKING:  # playwright may be absent: the fixtures then skip instead of breaking
    from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives JupyterLab in a real Chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory ``browser`` so ``-m "not browser"`` skips them."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item so fixtures can react to failures."""
    report = yield
    setattr(item, f"_causalkit_rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser_available() -> Path:
    """System Chromium and playwright, or skip (fail under CAUSALKIT_REQUIRE_BROWSER=1)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright Python package is not installed (pip install playwright)"
    if not CHROMIUM_PATH.exists():
        problem = f"{CHROMIUM_PATH} not found; install it with: apt-get install -y chromium"
    if problem:
        if os.environ.get("CAUSALKIT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CAUSALKIT_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(f"browser tests need a real browser: {problem}")
    return CHROMIUM_PATH


@pytest.fixture(scope="session")
def lab_root() -> Path:
    """Directory JupyterLab serves: the repo root unless CAUSALKIT_BROWSER_ROOT says otherwise."""
    return Path(os.environ.get("CAUSALKIT_BROWSER_ROOT", REPO_ROOT)).resolve()


@pytest.fixture(scope="session")
def _live_lab_server(browser_available: Path, lab_root: Path) -> Iterator[Callable[[], LabServer]]:
    """A function giving the session's running server; every server started is stopped
    with its kernels at the end."""
    with contextlib.ExitStack() as servers:
        started: list[LabServer] = []

        def live() -> LabServer:
            if not started or started[-1].process.poll() is not None:
                started.append(servers.enter_context(harness.lab_server(lab_root)))
            return started[-1]

        yield live


@pytest.fixture
def lab_server(_live_lab_server: Callable[[], LabServer]) -> LabServer:
    """The session's JupyterLab server, started on first use and again if it has exited.

    Under xdist a worker's browser tests can be most of an hour apart (a paper's training
    runs between them), longer than the server's idle shutdown, its safety net against
    orphans: a server found gone is replaced rather than failing the test.
    """
    return _live_lab_server()


@pytest.fixture
def browser_session(
    request: pytest.FixtureRequest, browser_available: Path, lab_server: LabServer
) -> Iterator[BrowserSession]:
    """A fresh Chromium page; ``.errors`` holds console/page errors for the test to assert.

    On a failed test a screenshot is saved and its path printed; kernels started by the test
    are shut down afterwards so tests do not share state.
    """
    with harness.chromium_page(executable_path=browser_available) as session:
        yield session
        rep = getattr(request.node, "_causalkit_rep_call", None)
        if rep is not None and rep.failed:
            shot = harness.save_screenshot(session.page, request.node.name)
            print(f"\nscreenshot of the failed test: {shot}")
            if session.errors:
                print("browser errors:\n  " + "\n  ".join(session.errors))
    lab_server.shutdown_kernels()


@pytest.fixture
def lab_page(browser_session: BrowserSession) -> Page:
    """The Playwright page of ``browser_session`` (request both to assert on its errors)."""
    return browser_session.page
