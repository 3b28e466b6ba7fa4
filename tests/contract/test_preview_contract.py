"""What every preview does, whichever backend runs the app (see conftest)."""

from __future__ import annotations

import socket
from collections.abc import Callable

from cofounder.sandbox import Backend
from cofounder.sandbox.preview_types import PreviewSpec

OpenBackend = Callable[..., Backend]
FAIL_TIMEOUT_S = 3.0


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


def test_an_app_that_exits_before_listening_says_so(backend: Backend) -> None:
    spec = PreviewSpec(command="echo missing-module >&2; exit 3", port=free_port())
    outcome = backend.preview.start(spec)
    assert not outcome.ok and outcome.url is None and backend.preview.running is None
    assert outcome.hint is not None and "exited with code 3" in outcome.hint
    assert "missing-module" in outcome.output_tail


def test_an_app_on_the_wrong_port_is_told_which(open_backend: OpenBackend) -> None:
    backend = open_backend(ready_timeout_s=FAIL_TIMEOUT_S)
    wanted, actual = free_port(), free_port()
    outcome = backend.preview.start(PreviewSpec(command=server(actual), port=wanted))
    assert not outcome.ok and outcome.hint is not None
    assert f"nothing listens on port {wanted}" in outcome.hint
    assert "the app listens on port(s)" in outcome.hint and str(actual) in outcome.hint
    assert not any(p.running for p in backend.sandbox.list_background())  # stopped again
