"""What every preview does, whichever backend runs the app (see conftest)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from cofounder.sandbox import Backend
from cofounder.sandbox.preview_types import PreviewSpec
from preview_support import listening_on, printed

OpenBackend = Callable[..., Backend]
FAIL_TIMEOUT_S = 3.0  # a deadline run out on purpose: the app is made ready before it starts
LONG_DEADLINE_S = 60.0  # a deadline no app here reaches by being slow


def free_port() -> int:
    """A port free on this host (the E2B fake's 'VM' shares this host's network)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server(port: int) -> str:
    return f"exec python3 -m http.server {port} --bind 0.0.0.0"


def test_an_app_that_answers_is_ok_with_a_url_and_stops(backend: Backend) -> None:
    port = free_port()
    outcome = backend.preview.start(PreviewSpec(command=server(port), port=port))
    assert outcome.ok and outcome.url and outcome.http_status == 200, outcome
    assert backend.preview.running == outcome
    assert [p.running for p in backend.sandbox.list_background()] == [True]
    assert backend.preview.stop() == outcome
    assert backend.preview.running is None and backend.preview.stop() is None
    assert [p.running for p in backend.sandbox.list_background()] == [False]


def test_an_app_that_exits_before_listening_says_so(open_backend: OpenBackend) -> None:
    backend = open_backend(ready_timeout_s=LONG_DEADLINE_S)
    spec = PreviewSpec(command="echo missing-module >&2; exit 3", port=free_port())
    outcome = backend.preview.start(spec)
    assert not outcome.ok and outcome.url is None and backend.preview.running is None
    assert outcome.hint is not None and "exited with code 3" in outcome.hint
    assert "missing-module" in outcome.output_tail
    assert outcome.waited_s < LONG_DEADLINE_S  # noticed when it exited, not at the deadline


def test_an_app_on_the_wrong_port_is_told_which(open_backend: OpenBackend) -> None:
    wanted, actual = free_port(), free_port()
    # The deadline starts once the app listens, so the diagnosis at its end sees it listen.
    backend = open_backend(ready_timeout_s=FAIL_TIMEOUT_S, app_ready=listening_on(actual))
    outcome = backend.preview.start(PreviewSpec(command=server(actual), port=wanted))
    assert not outcome.ok and outcome.hint is not None
    assert f"nothing listens on port {wanted}" in outcome.hint
    assert "the app listens on port(s)" in outcome.hint and str(actual) in outcome.hint
    assert not any(p.running for p in backend.sandbox.list_background())  # stopped again


def test_an_error_status_is_still_a_running_app(backend: Backend) -> None:
    """Any HTTP answer means the app runs; a path without its slash is the same path."""
    port = free_port()
    spec = PreviewSpec(command=server(port), port=port, path="no-such-page")
    outcome = backend.preview.start(spec)
    assert outcome.ok and outcome.http_status == 404 and outcome.hint is None, outcome


def test_starting_again_replaces_the_app_and_keeps_the_url(backend: Backend) -> None:
    port = free_port()
    spec = PreviewSpec(command=server(port), port=port)
    first = backend.preview.start(spec)
    second = backend.preview.start(spec)  # without a stop: the first app is stopped for it
    assert first.ok and second.ok, (first, second)
    assert second.url == first.url and second.process_id != first.process_id
    assert [p.id for p in backend.sandbox.list_background() if p.running] == [second.process_id]
    assert backend.preview.running == second


def test_an_app_that_never_answers_is_stopped_at_the_deadline(
    open_backend: OpenBackend,
) -> None:
    # The deadline starts once the app has printed, so that line is in the output it keeps.
    backend = open_backend(ready_timeout_s=FAIL_TIMEOUT_S, app_ready=printed("waiting"))
    port = free_port()
    outcome = backend.preview.start(PreviewSpec(command="echo waiting; sleep 100", port=port))
    assert not outcome.ok and outcome.hint is not None and outcome.waited_s >= FAIL_TIMEOUT_S
    assert outcome.hint.startswith(f"no HTTP answer within {FAIL_TIMEOUT_S:g} s: ")
    assert f"nothing listens on port {port}" in outcome.hint
    assert outcome.output_tail == "waiting\n" and backend.preview.running is None
    assert not any(p.running for p in backend.sandbox.list_background())


def test_a_screenshot_needs_a_running_app(backend: Backend) -> None:
    from cofounder.sandbox.screenshot import ScreenshotError

    with pytest.raises(ScreenshotError, match="start the app with the `preview` tool"):
        backend.preview.screenshot()
    port = free_port()
    outcome = backend.preview.start(PreviewSpec(command=server(port), port=port))
    assert outcome.ok and outcome.process_id is not None, outcome
    backend.sandbox.stop_background(outcome.process_id)  # the app dies behind its back
    with pytest.raises(ScreenshotError, match="process has stopped; start the preview again"):
        backend.preview.screenshot()
    assert backend.preview.stop() == outcome and backend.preview.running is None
