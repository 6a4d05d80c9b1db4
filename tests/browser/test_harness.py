"""The browser harness itself: what the paper tests rely on."""

from __future__ import annotations

from collections.abc import Callable

from .harness import LabServer


def test_a_server_that_has_exited_is_replaced(_live_lab_server: Callable[[], LabServer]) -> None:
    # Under xdist a worker can idle past the server's no-activity shutdown between two
    # papers' browser tests; the next test must get a running server, not a refused page.
    first = _live_lab_server()
    assert _live_lab_server() is first  # one server while it runs
    first.process.terminate()
    first.process.wait(timeout=30)
    second = _live_lab_server()
    assert second is not first and second.process.poll() is None
    assert "started" in second.api("api/status")
