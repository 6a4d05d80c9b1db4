"""Shared fixtures, and the order the suite runs in.

Order matters for speed, not correctness. The tests that need a paper's trained
quick-preset models form one chain per paper: the notebook regression (which also grades the
reference answers), the student edition's grading, nbval, the panels and the browser test. The first link trains each model into
``data_cache/`` and the rest reuse it. Under pytest-xdist (``make test`` runs ``-n <cores>``)
each chain is one unit of work (:func:`pytest_xdist_make_scheduler`), so one worker trains a
paper's models while another trains the next paper's, instead of both waiting on one cache
lock. The longest chains go first; every other test fills in around them.
"""

from __future__ import annotations

import os

import pytest

from causalkit.notebooks import NOTEBOOKS
from causalkit.sweep import cores_each, use_threads

# Progress bars add nothing to a test log.
os.environ.setdefault("CAUSALKIT_PROGRESS", "0")
# The bounds that tests and notebook runs check on trained models were measured on the CPU's
# seeded random stream; a GPU draws other numbers and trains other models (on an H100, 4
# trained-model assertions of the unit and widget tests failed). The suite therefore runs
# on the CPU unless CAUSALKIT_DEVICE says otherwise: `CAUSALKIT_DEVICE=cuda make test`.
os.environ.setdefault("CAUSALKIT_DEVICE", "cpu")
# Under xdist the cores are shared out, so two workers' torch pools do not fight over them
# (the kernels papermill and nbval start inherit it). Set before any test imports torch.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1 and "OMP_NUM_THREADS" not in os.environ:
    use_threads(cores_each(_workers))

# Longest chain first, as CI runs them (a clean clone's `make test`, one thread per worker on
# a 2-core CPU, 2026-12-04): CGN's tests that train took about 2,800 s, ICM's 2,000, the
# VAE's 1,400, NCC's 600 and CFL's 400.
CHAIN_ORDER = ("cgn", "icm", "semvae", "ncc", "cfl", "tour")
_BY_FILENAME = {spec.filename: name for name, spec in NOTEBOOKS.items()}


def _stage(item: pytest.Item) -> int:
    if item.get_closest_marker("browser") or "tests/browser" in item.nodeid:
        return 4
    if "test_widgets" in item.nodeid:
        return 3
    if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
        return 2  # nbval
    if item.get_closest_marker("notebook"):
        return 1
    return 0


def _unchecked_tail(items: list[pytest.Item]) -> list[pytest.Item]:
    """nbval's cells after each notebook's last ``# NBVAL_CHECK_OUTPUT`` cell.

    Nothing they print is compared (``--nbval-lax``), and the notebook stage has already run
    every cell headless, so nbval stops at the last cell it checks instead of running the
    notebook a second time.
    """
    nbval = [item for item in items if hasattr(item, "cell_num") and hasattr(item, "options")]
    last: dict[pytest.Collector, int] = {}
    for item in nbval:
        if item.options.get("check"):
            last[item.parent] = max(last.get(item.parent, -1), item.cell_num)
    return [item for item in nbval if item.cell_num > last.get(item.parent, -1)]


def _chain(nodeid: str) -> str | None:
    """The paper whose trained quick-preset models the test ``nodeid`` uses, if any.

    From the test's id alone, because xdist's scheduler sees nothing else: a notebook's
    cells, a parametrization (``[cgn]``, ``[semvae_noise_traversal]``), a test named
    ``test_<paper>_…`` or a file named for its paper (``browser/test_cgn.py``).
    """
    path, _, test = nodeid.partition("::")
    if path.endswith(".ipynb"):
        return _BY_FILENAME.get(path.rsplit("/", 1)[-1])
    chained = ("tests/test_notebooks.py", "tests/test_widgets")
    if not path.startswith((*chained, "tests/browser/")):
        return None
    name, _, param = test.partition("[")
    stem = path.rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_widgets_")
    for word in (param.removesuffix("]"), name, stem):
        paper = word.removeprefix("test_").split("_", 1)[0]
        if paper in NOTEBOOKS:
            return paper
    return None


def _order(item: pytest.Item) -> tuple[int, int]:
    chain = _chain(item.nodeid)
    rank = CHAIN_ORDER.index(chain) if chain in CHAIN_ORDER else len(CHAIN_ORDER)
    return rank, _stage(item)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tail = set(_unchecked_tail(items))
    if tail:
        config.hook.pytest_deselected(items=list(tail))
        items[:] = [item for item in items if item not in tail]
    items.sort(key=_order)  # stable: keeps file order within a chain and a stage


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """xdist's scope scheduler with one work unit per paper chain, in collection order.

    (``--dist loadgroup`` would do this from marks, but xdist 3.8 renames the node ids it
    groups by in a way pytest 9.2 ignores.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class ChainScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _chain(nodeid) or nodeid

    config.option.loadscopereorder = False  # keep the longest-first order above
    return ChainScheduling(config, log)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    """A private, empty cache directory for tests that exercise the cache itself."""
    root = tmp_path / "cache"
    monkeypatch.setenv("CAUSALKIT_CACHE", str(root))
    return root


def _nudge(control) -> None:
    """Move a control to another value a student could pick."""
    if hasattr(control, "options") and len(control.options) > 1:
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        control.value = next(v for v in values if v != control.value)
    elif hasattr(control, "max"):
        control.value = control.min if control.value != control.min else control.max
    else:
        control.value = not control.value


@pytest.fixture
def shows_render_errors():
    """``check(panel)``: a render that raises leaves the last picture, marked stale, and says
    why inside the panel; the next good render clears both."""

    def check(panel) -> None:
        picture, render = panel.figure.value, panel._render

        def broken(**values):
            raise ValueError("this setting broke the renderer")

        panel._render = broken
        control = next(iter(panel.controls.values()))
        _nudge(control)
        assert panel.last_error is not None
        assert "this setting broke the renderer" in panel.error.value
        assert panel.error.layout.display != "none"
        assert panel.figure.value == picture and "causalkit-stale" in panel.figure._dom_classes
        panel._render = render
        _nudge(control)
        assert panel.last_error is None and panel.error.layout.display == "none"
        assert "causalkit-stale" not in panel.figure._dom_classes

    return check


@pytest.fixture
def meets_its_challenge():
    """``check(panel, settings)``: the panel states its challenge, the default setting does not
    meet it, and one of ``settings`` (dicts of control values, tried in order) does; once met,
    it stays met when the student moves on."""

    def check(panel, settings) -> dict:
        assert panel.challenge is not None
        assert panel.challenge.text in panel.challenge_box.value.replace("&#x27;", "'")
        assert not panel.challenge_met and "Not met yet" in panel.challenge_box.value
        start = panel.values()
        met_at = None
        for setting in settings:
            for name, value in setting.items():  # each move renders, as a student's would
                panel.controls[name].value = value
                if panel.challenge_met:
                    met_at = panel.values()
                    break
            if met_at:
                break
        else:
            raise AssertionError(f"no setting tried meets {panel.challenge.text!r}")
        assert "causalkit-challenge-met" in panel.challenge_box._dom_classes
        assert "Met." in panel.challenge_box.value
        for name, value in start.items():
            panel.controls[name].value = value
        assert panel.challenge_met and "Met." in panel.challenge_box.value
        return met_at

    return check


def send_pointer(pointer, kind: str, x: int, y: int) -> None:
    """Deliver a mouse event to a :class:`widgets.pointer.Pointer` as the browser would."""
    event = {
        "type": kind,
        "dataX": x,
        "dataY": y,
        "button": 0,
        "buttons": 0 if kind == "mouseup" else 1,
    }
    target = pointer.moves if kind == "mousemove" else pointer.clicks
    target._handle_mouse_msg(None, event, [])


@pytest.fixture
def pointer_events():
    return send_pointer
