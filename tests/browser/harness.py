"""Real-browser test harness: a throwaway JupyterLab server driven by headless Chromium.

Why this exists: the teaching panels are ipywidgets, and only a real browser proves that
the widget front-end renders them and reacts to a learner's keyboard.  Everything here is
hermetic (fresh config/runtime/settings/workspace dirs, random token, free port), offline
(no news feed, no update check, Chromium cannot resolve any non-local host) and leaves no
processes behind.

Timeouts are in **seconds** throughout this module (Playwright itself uses milliseconds).

A panel test, with the fixtures from ``conftest.py``::

    def test_my_panel(lab_server, browser_session):
        page = browser_session.page
        open_notebook(page, lab_server, "notebooks/03_my_panel.ipynb")
        run_all(page)
        before = text_of(page, ".causalkit-panel .causalkit-readout")
        focus_and_press(page, ".causalkit-panel .causalkit-control-alpha", "ArrowRight", 3)
        assert wait_for_text_change(page, ".causalkit-panel .causalkit-readout", before)
        browser_session.assert_no_errors()

Console messages ignored: **none**.  Offline JupyterLab 4.6 with the configuration below
logs no console errors, so every console ``error`` and every uncaught page error is
reported.  If a message ever has to be tolerated, add a regex to ``IGNORED_CONSOLE_ERRORS``
together with a comment that justifies it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importable without playwright, so conftest can skip cleanly
    from playwright.sync_api import BrowserContext, ConsoleMessage, Locator, Page, WebError

#: System Chromium (Debian package ``chromium``); CAUSALKIT_CHROMIUM overrides the path.
CHROMIUM_PATH = Path(os.environ.get("CAUSALKIT_CHROMIUM", "/usr/bin/chromium"))

#: Regexes of console error texts that are tolerated.  Keep empty unless justified.
IGNORED_CONSOLE_ERRORS: tuple[re.Pattern[str], ...] = ()

#: Flags that keep Chromium quiet, offline and runnable as root in a container.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",  # we run as root in a container; the sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes the renderer
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--metrics-recording-only",
    "--password-store=basic",
    # Only the local server is reachable: a page that tries to fetch anything from the
    # internet fails the same way on every machine (and shows up as a console error).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
)


#: User settings written into the private settings dir.
LAB_USER_SETTINGS: dict[str, dict[str, Any]] = {
    # ``--LabApp.news_url=None`` stops the news fetch, but JupyterLab 4.6 still shows an
    # "official Jupyter news?" toast that can cover widgets; answering "Never" removes it.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # Tests run notebooks from the repo: never autosave outputs back into the files.
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # The default "contentVisibility" windowing skips rendering of off-screen cells, so
    # innerText of an off-screen widget reads "" although it is attached and "visible".
    # "none" renders every cell: what a test reads no longer depends on the scroll position.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


class HarnessError(AssertionError):
    """A browser-harness step failed; the message says what was expected and what was seen."""


# --------------------------------------------------------------------------- server


@dataclass(repr=False)
class LabServer:
    """A running JupyterLab server started by :func:`lab_server`."""

    base_url: str  # e.g. "http://127.0.0.1:8890/" (always ends with "/")
    token: str
    root_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    runtime_dir: Path

    def __repr__(self) -> str:
        return f"LabServer({self.base_url}, root={self.root_dir}, log={self.log_path})"

    def url(self, path: str = "", **query: str) -> str:
        """Absolute URL of a server path, with the token in the query string."""
        params = {**query, "token": self.token}
        return f"{self.base_url}{path.lstrip('/')}?{urllib.parse.urlencode(params)}"

    def api(self, path: str, method: str = "GET", timeout: float = 10.0) -> Any:
        """Call the REST API (``path`` like ``"api/kernels"``) and decode the JSON answer."""
        req = urllib.request.Request(
            f"{self.base_url}{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in {"POST", "PUT", "PATCH"} else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the server log, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"<server log unreadable: {exc}>"
        return "\n".join(text.splitlines()[-lines:])

    def shutdown_kernels(self) -> None:
        """Shut down every kernel so the next test starts from a clean server."""
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            for kernel in self.api("api/kernels"):
                with contextlib.suppress(OSError, urllib.error.URLError):
                    self.api(f"api/kernels/{kernel['id']}", method="DELETE", timeout=30)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Child-side: get SIGTERM if the test process dies (Linux), so no server is orphaned."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _kill_kernels_of(runtime_dir: Path) -> None:
    """Last resort: kill kernels whose connection file lives in our private runtime dir.

    Kernels run in their own session (jupyter_client uses start_new_session), so killing
    the server's process group does not reach them.
    """
    needle = str(runtime_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            with contextlib.suppress(OSError):
                os.kill(int(proc.name), signal.SIGKILL)


def _spawn(
    cmd: Sequence[str], env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server writing to ``log_path``, in its own process group (terminated as one)
    and, on Linux, told to stop when the test process dies."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def _stop_process_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def lab_server(
    root_dir: Path | str,
    *,
    startup_timeout: float = 90.0,
    extra_args: Sequence[str] = (),
) -> Iterator[LabServer]:
    """Run an isolated, offline JupyterLab serving ``root_dir``; stop it and its kernels after.

    Isolation keeps tests from reading or writing the user's Jupyter config, settings and
    workspaces; ``expose_app_in_browser`` gives the helpers ``window.jupyterapp`` so they
    can run commands and read kernel state without scraping the DOM.
    """
    root = Path(root_dir).resolve()
    if not root.is_dir():
        raise HarnessError(f"JupyterLab root dir does not exist: {root}")
    tmp = Path(tempfile.mkdtemp(prefix="causalkit-lab-"))
    dirs = {
        name: tmp / name
        for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")
    }
    for d in dirs.values():
        d.mkdir()
    _write_user_settings(dirs["settings"])
    token = secrets.token_hex(24)
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
        "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    env.pop("JUPYTER_TOKEN", None)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # Safety net if everything else fails: an idle server exits by itself.
        "--ServerApp.shutdown_no_activity_timeout=1800",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        *(["--allow-root"] if os.geteuid() == 0 else []),
        *extra_args,
    ]
    log_path = tmp / "jupyterlab.log"
    proc = _spawn(cmd, env, log_path, cwd=root)
    server = LabServer(
        base_url=f"http://127.0.0.1:{port}/",
        token=token,
        root_dir=root,
        process=proc,
        log_path=log_path,
        runtime_dir=dirs["runtime"],
    )
    try:
        _wait_until_up(server, startup_timeout)
        yield server
    finally:
        if proc.poll() is None:
            server.shutdown_kernels()
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                server.api("api/shutdown", method="POST", timeout=15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        _stop_process_group(proc, grace=10)
        _kill_kernels_of(dirs["runtime"])
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(repr=False)
class AppServer:
    """A running ``python -m causalkit app NAME`` (Voilà) started by :func:`app_server`."""

    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self) -> str:
        return f"{self.base_url}?token={self.token}"

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def app_server(name: str, *, startup_timeout: float = 300.0) -> Iterator[AppServer]:
    """Run ``python -m causalkit app NAME`` on a free loopback port, isolated like
    :func:`lab_server`; stop it and its kernels after. Up means the page answers 200 with the
    token and its preheated kernel has run the app (Voilà logs the pool as filled)."""
    tmp = Path(tempfile.mkdtemp(prefix="causalkit-app-"))
    runtime = tmp / "runtime"
    runtime.mkdir()
    token = secrets.token_hex(24)
    port = _free_port()
    env = {
        **os.environ,
        "CAUSALKIT_LAB_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(tmp / "ipython"),
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("JUPYTER_TOKEN", None)
    cmd = [sys.executable, "-m", "causalkit", "app", name, "--port", str(port)]
    log_path = tmp / "voila.log"
    proc = _spawn(cmd, env, log_path)
    server = AppServer(f"http://127.0.0.1:{port}/", token, proc, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while "is filled with" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise HarnessError(f"the {name} app did not start:\n{server.log_tail()}")
            time.sleep(0.5)
        with urllib.request.urlopen(server.url(), timeout=30) as answer:
            if answer.status != 200:
                raise HarnessError(f"the {name} app answered {answer.status}")
        yield server
    finally:
        _stop_process_group(proc, grace=15)
        _kill_kernels_of(runtime)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def scratch_notebook(server: LabServer, source: str, prefix: str = "browser-") -> Iterator[str]:
    """A one-cell notebook running ``source``, under the served root's runs/ (git-ignored) and
    removed afterwards; yields its path relative to the root, for :func:`open_notebook`."""
    runs = server.root_dir / "runs"
    runs.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=runs))
    try:
        import nbformat

        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        notebook.metadata["kernelspec"] = {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        }
        nbformat.write(notebook, scratch / "scratch.ipynb")
        yield (scratch / "scratch.ipynb").relative_to(server.root_dir).as_posix()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_user_settings(settings_dir: Path) -> None:
    for plugin, values in LAB_USER_SETTINGS.items():
        target = settings_dir / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2))


def _wait_until_up(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise HarnessError(
                f"JupyterLab exited with code {server.process.returncode} before answering.\n"
                f"--- server log tail ---\n{server.log_tail()}"
            )
        try:
            server.api("api/status", timeout=5)
            return
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = repr(exc)
        time.sleep(0.25)
    raise HarnessError(
        f"JupyterLab did not answer GET {server.base_url}api/status within {timeout:.0f}s "
        f"(last error: {last_error}).\n--- server log tail ---\n{server.log_tail()}"
    )


# --------------------------------------------------------------------------- browser


@dataclass(repr=False)
class BrowserSession:
    """A Chromium context with one page and everything the page complained about."""

    context: BrowserContext
    page: Page
    console: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"BrowserSession(url={self.page.url!r}, errors={len(self.errors)})"

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught page errors, minus ``IGNORED_CONSOLE_ERRORS``."""
        found = [
            f"console.error: {msg.text} (at {_location(msg)})"
            for msg in self.console
            if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE_ERRORS)
        ]
        return found + [f"pageerror: {err}" for err in self.page_errors]

    def assert_no_errors(self) -> None:
        """Fail listing every recorded browser error (and failed requests, as context)."""
        if self.errors:
            extra = (
                "\nfailed requests:\n  " + "\n  ".join(self.failed_requests)
                if self.failed_requests
                else ""
            )
            raise HarnessError("browser reported errors:\n  " + "\n  ".join(self.errors) + extra)


def _location(msg: ConsoleMessage) -> str:
    loc = msg.location
    return f"{loc.get('url', '?')}:{loc.get('lineNumber', '?')}"


def require_chromium(path: Path = CHROMIUM_PATH) -> Path:
    """Return the Chromium binary, or raise FileNotFoundError saying how to install it."""
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; install it with: apt-get install -y chromium")
    return path


@contextlib.contextmanager
def chromium_page(
    *,
    executable_path: Path | str = CHROMIUM_PATH,
    headless: bool = True,
    viewport: tuple[int, int] = (1400, 1000),
    default_timeout: float = 30.0,
    extra_args: Sequence[str] = (),
) -> Iterator[BrowserSession]:
    """Launch system Chromium (never a Playwright-downloaded one) with a throwaway profile.

    Console messages, uncaught page errors and failed requests of every page in the
    context are recorded on the yielded :class:`BrowserSession`.
    """
    from playwright.sync_api import sync_playwright

    require_chromium(Path(executable_path))
    tmp = Path(tempfile.mkdtemp(prefix="causalkit-chromium-"))
    # Chromium's crashpad database and GTK's dconf cache follow XDG dirs, not the profile:
    # point them into the throwaway dir so the user's ~/.config and ~/.cache stay untouched.
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
    }
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                tmp / "profile",
                executable_path=str(executable_path),
                headless=headless,
                env=env,
                args=[*CHROMIUM_ARGS, *extra_args],
                viewport={"width": viewport[0], "height": viewport[1]},
                locale="en-US",
                timezone_id="UTC",
            )
            try:
                session = BrowserSession(
                    context=context, page=context.pages[0] if context.pages else context.new_page()
                )
                context.on("console", lambda msg: session.console.append(msg))
                context.on("weberror", lambda err: session.page_errors.append(_web_error_text(err)))
                context.on(
                    "requestfailed",
                    lambda req: session.failed_requests.append(
                        f"{req.method} {req.url}: {req.failure}"
                    ),
                )
                context.set_default_timeout(default_timeout * 1000)
                yield session
            finally:
                context.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _web_error_text(err: WebError) -> str:
    exc = err.error
    return (exc.stack or f"{exc.name}: {exc.message}") if exc else "<unknown error>"


# --------------------------------------------------------------------------- helpers

_NOTEBOOK_STATE_JS = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return {ready: false, why: 'window.jupyterapp not available yet'};
  const w = app.shell.currentWidget;
  if (!w || !w.context || !w.content || w.context.path !== path) {
    const current = w && w.context ? w.context.path : String(w && w.id);
    return {ready: false, why: 'current widget is ' + current};
  }
  const sc = w.context.sessionContext;
  const kernel = sc && sc.session && sc.session.kernel;
  const cells = [];
  for (const cell of w.content.widgets) {
    const m = cell.model;
    if (m.type !== 'code') continue;
    const errors = [];
    for (let i = 0; i < m.outputs.length; i++) {
      const o = m.outputs.get(i).toJSON();
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
    }
    cells.push({
      count: m.executionCount,
      running: m.executionState === 'running',
      empty: m.sharedModel.getSource().trim() === '',
      errors: errors,
    });
  }
  const dialog = document.querySelector('.jp-Dialog');
  return {
    ready: w.context.isReady,
    kernel: kernel ? kernel.status : (sc && sc.hasNoKernel ? 'no kernel' : 'none'),
    display: sc ? sc.kernelDisplayStatus : 'none',
    dialog: dialog ? dialog.innerText.slice(0, 300) : null,
    cells: cells,
    runAll: window.__causalkitRunAll || null,
  };
}
"""


def _state(page: Page, path: str) -> dict[str, Any]:
    return page.evaluate(_NOTEBOOK_STATE_JS, path)


def save_screenshot(page: Page, name: str) -> Path | None:
    """Save a full-page screenshot under the temp dir and return its path (None if it failed)."""
    out = Path(tempfile.gettempdir()) / "causalkit-browser-screenshots"
    out.mkdir(exist_ok=True)
    target = out / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{int(time.time())}.png"
    try:
        page.screenshot(path=str(target), full_page=True, timeout=10_000)
    except Exception:
        return None
    return target


def _fail(page: Page, message: str) -> HarnessError:
    shot = save_screenshot(page, "failure")
    return HarnessError(f"{message}\nscreenshot: {shot}" if shot else message)


def open_notebook(page: Page, server: LabServer, path: str, timeout: float = 90.0) -> None:
    """Open ``path`` (relative to the server root) in a fresh workspace; wait for an idle kernel.

    ``?reset`` starts from an empty workspace so tabs from earlier tests are not restored
    (each restored notebook would start another kernel on a 2-core machine).
    """
    path = path.replace(os.sep, "/").lstrip("/")
    if not (server.root_dir / path).is_file():
        raise HarnessError(f"notebook not found: {server.root_dir / path}")
    page.goto(server.url(f"lab/tree/{urllib.parse.quote(path)}", reset=""), timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = _state(page, path)
        if state.get("dialog") and "Select Kernel" in state["dialog"]:
            page.locator(".jp-Dialog .jp-mod-accept").first.click()  # default kernel
        elif state.get("ready") and state.get("kernel") == "idle":
            return
        page.wait_for_timeout(250)
    raise _fail(
        page,
        f"notebook {path} did not reach an idle kernel within {timeout:.0f}s; last state: {state}",
    )


def wait_for_kernel_idle(page: Page, path: str, timeout: float = 60.0) -> None:
    """Wait until the kernel of the open notebook ``path`` is idle (e.g. after a widget event)."""
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = _state(page, path)
        if state.get("kernel") == "idle":
            return
        page.wait_for_timeout(200)
    raise _fail(page, f"kernel of {path} not idle within {timeout:.0f}s; last state: {state}")


def run_all(page: Page, timeout: float = 120.0) -> None:
    """Run every cell of the current notebook and wait until all ran (fail fast on errors).

    Outputs are cleared first so execution counts saved in the file cannot be mistaken for
    fresh ones; then ``runmenu:run-all`` runs through ``window.jupyterapp.commands``, which
    does not depend on menus, focus or keyboard shortcuts.
    """
    path = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    started = page.evaluate(
        """async () => {
          const cmds = window.jupyterapp.commands;
          if (!cmds.hasCommand('runmenu:run-all')) return 'command runmenu:run-all not registered';
          await cmds.execute('notebook:clear-all-cell-outputs');
          if (!cmds.isEnabled('runmenu:run-all')) return 'command runmenu:run-all is disabled';
          window.__causalkitRunAll = {done: false, error: null};
          cmds.execute('runmenu:run-all').then(
            (r) => { window.__causalkitRunAll = {done: true, result: r ?? null, error: null}; },
            (e) => { window.__causalkitRunAll = {done: true, error: String(e)}; });
          return 'ok';
        }"""
    )
    if started != "ok":
        raise _fail(page, f"cannot run all cells of {path}: {started}")
    deadline = time.monotonic() + timeout
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = _state(page, path)
        errors = [e for cell in state.get("cells", []) for e in cell["errors"]]
        if errors:
            raise _fail(page, f"a cell of {path} raised: {errors}")
        run = state.get("runAll") or {}
        if run.get("error"):
            raise _fail(page, f"runmenu:run-all failed: {run['error']}")
        cells = state.get("cells", [])
        if (
            run.get("done")
            and state.get("kernel") == "idle"
            and not any(c["running"] for c in cells)
            and all(c["count"] is not None for c in cells if not c["empty"])
        ):
            return
        page.wait_for_timeout(250)
    pending = [
        i for i, c in enumerate(state.get("cells", [])) if c["count"] is None and not c["empty"]
    ]
    raise _fail(
        page,
        f"run-all of {path} did not finish within {timeout:.0f}s; code cells without execution "
        f"count: {pending}; last state: {state}",
    )


def wait_for(page: Page, selector: str, timeout: float = 30.0) -> Locator:
    """Wait until ``selector`` is visible and return a locator on its first match."""
    loc = page.locator(selector).first
    try:
        loc.wait_for(state="visible", timeout=timeout * 1000)
    except Exception as exc:
        raise _fail(page, f"{selector!r} not visible within {timeout:.0f}s: {exc}") from exc
    return loc


def text_of(page: Page, selector: str, timeout: float = 30.0) -> str:
    """Rendered text (innerText) of the first match of ``selector``, whitespace-normalised.

    The element is scrolled into view first, as a reader would, so the text is rendered.
    """
    loc = wait_for(page, selector, timeout)
    loc.scroll_into_view_if_needed()
    return " ".join(loc.inner_text().split())


def text_containing(page: Page, selector: str, needle: str, timeout: float = 30.0) -> str:
    """Text of ``selector`` once it contains ``needle``: each key press re-renders, and on a
    busy machine the first render to arrive may be an intermediate one."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = text_of(page, selector, timeout=max(1.0, deadline - time.monotonic()))
        if needle in text:
            return text
        page.wait_for_timeout(200)
    raise AssertionError(f"text of {selector} never contained {needle!r}; last: {text!r}")


def focus_and_press(
    page: Page, selector: str, key: str, times: int = 1, delay: float = 0.05
) -> None:
    """Focus ``selector`` and press ``key`` ``times`` times, like a keyboard-only learner.

    If ``selector`` is an ipywidgets slider (noUiSlider), its ``.noUi-handle`` is the
    focusable element and gets the key presses.
    """
    target = wait_for(page, selector)
    handle = target.locator(".noUi-handle")
    if handle.count():
        target = handle.first
    target.scroll_into_view_if_needed()
    target.focus()
    for _ in range(times):
        target.press(key, delay=delay * 1000)


def wait_for_text_change(page: Page, selector: str, old: str, timeout: float = 30.0) -> str:
    """Wait until :func:`text_of` ``selector`` differs from ``old``; return the new text."""
    deadline = time.monotonic() + timeout
    current = old
    while time.monotonic() < deadline:
        current = text_of(page, selector, timeout=max(1.0, deadline - time.monotonic()))
        if current != old:
            return current
        page.wait_for_timeout(200)
    raise _fail(page, f"text of {selector!r} stayed {old!r} for {timeout:.0f}s")
