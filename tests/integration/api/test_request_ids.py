"""Every answer carries a request id (the caller's when it is a plain token), and the request's
log line carries it with the session the path names."""

from __future__ import annotations

import re

import structlog
from api_support import Api, bearer, make_owned


def test_a_plain_request_id_is_echoed_and_logged_with_the_session(api: Api) -> None:
    owned = make_owned(api.engine, "alice")
    with structlog.testing.capture_logs() as logs:
        answer = api.client.get(
            f"/api/v1/sessions/{owned.session_id}",
            headers={**bearer(api.token("alice")), "X-Request-ID": "req-42.a_b"},
        )
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "req-42.a_b"
    line = next(entry for entry in logs if entry["event"] == "api_request")
    assert line["request_id"] == "req-42.a_b" and line["session_id"] == owned.session_id
    assert line["status"] == 200


def test_a_missing_or_unsafe_request_id_gets_a_fresh_one(api: Api) -> None:
    for given in (None, "has spaces", "x" * 65, "newline\n"):
        headers = {} if given is None else {"X-Request-ID": given.replace("\n", "%0a")}
        answer = api.client.get("/api/v1/sessions", headers=headers)  # no token: 401
        assert answer.status_code == 401
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
