"""Bad requests get a 4xx problem+json that says what is wrong, never a 500, and change
nothing: malformed JSON, wrong types, unknown fields, bodies past the size limit (announced
or streamed), control characters, and odd path and query parameters. On both backends:
PostgreSQL refuses some values SQLite takes (a NUL in text, an over-long string)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from api_support import API, EXAMPLE_SPEC, Api, Owned, bearer, make_owned

from cofounder.api.app import MAX_BODY_BYTES

JSON = {"content-type": "application/json"}


class Caller:
    """alice's (or the admin's) requests, with the answers checked for the problem shape."""

    def __init__(self, api: Api, token: str) -> None:
        self.api = api
        self.headers = bearer(token)

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.api.client.request(method, f"{API}{path}", headers=headers, **kwargs)

    def refused(self, status: int, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.send(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem: dict[str, Any] = response.json()
        assert problem["status"] == status and problem["detail"]
        return problem

    def field_error(self, path_of_field: str, method: str, path: str, **kwargs: Any) -> str:
        """A 422 whose first error names `path_of_field`; its message."""
        problem = self.refused(422, method, path, **kwargs)
        first = problem["errors"][0]
        assert first["path"] == path_of_field, problem
        assert problem["detail"].startswith(f"{path_of_field}: ")
        message: str = first["message"]
        return message


@pytest.fixture
def alice(api_on: Api) -> Caller:
    return Caller(api_on, api_on.token("alice"))


@pytest.fixture
def root(api_on: Api) -> Caller:
    return Caller(api_on, api_on.token("root", admin=True))


@pytest.fixture
def owned(api_on: Api) -> Owned:
    return make_owned(api_on.engine, "alice")


def _counts(api: Api) -> tuple[int, int]:
    return len(api.engine.rt.projects.list()), len(api.engine.sessions())


def test_malformed_json_names_where_it_breaks(alice: Caller, root: Caller, owned: Owned) -> None:
    before = _counts(alice.api)
    targets = [
        (alice, "/projects"),
        (alice, f"/projects/{owned.project_id}/builds"),
        (alice, f"/escalations/{owned.escalation_id}/resolve"),
        (root, "/owners/alice/top-ups"),
    ]
    for caller, path in targets:
        for text in (b"{not json", b'{"a": 1,}', b"\xff\xfe", b'{"a": "unterminated'):
            message = caller.field_error("body", "POST", path, content=text, headers=JSON)
            assert message.startswith("malformed JSON at character "), message
    # nested past what the parser takes: refused, not a crash
    deep = b"[" * 100_000 + b"]" * 100_000
    alice.refused(400, "POST", "/projects", content=deep, headers=JSON)
    assert _counts(alice.api) == before


def test_wrong_types_and_shapes_name_the_field(alice: Caller, root: Caller, owned: Owned) -> None:
    builds = f"/projects/{owned.project_id}/builds"
    resolve = f"/escalations/{owned.escalation_id}/resolve"
    assert "must be text, got a number" in alice.field_error(  # the CLI's words
        "name", "POST", "/projects", json={**EXAMPLE_SPEC, "name": 5}
    )
    alice.field_error("tier", "POST", "/projects", json={**EXAMPLE_SPEC, "tier": ["partner"]})
    alice.field_error("understanding_qna.0.answer", "POST", "/projects", json={
        **EXAMPLE_SPEC, "understanding_qna": [{"question": "Who?", "answer": 3}]
    })  # fmt: skip
    for not_an_object in ([1, 2], "spec", 7, None):
        alice.field_error("body", "POST", "/projects", json=not_an_object)
    alice.field_error("max_tool_calls", "POST", builds, json={"max_tool_calls": "many"})
    alice.field_error("max_tool_calls", "POST", builds, json={"max_tool_calls": 0})
    alice.field_error("max_tool_calls", "POST", builds, json={"max_tool_calls": 10**30})
    alice.field_error("network", "POST", builds, json={"network": "everything"})
    alice.field_error("body", "POST", builds, json=[{}])
    alice.field_error("choice", "POST", resolve, json={"choice": 5})
    alice.field_error("choice", "POST", resolve, json={"choice": ""})
    alice.field_error("choice", "POST", resolve, json={})
    alice.field_error("guidance", "POST", resolve, json={"choice": "a", "guidance": "x" * 4001})
    for amount in ("lots", -1, 0, "NaN", "Infinity", 10**9, "0.0000001"):
        root.field_error("amount_usd", "POST", "/owners/alice/top-ups", json={"amount_usd": amount})
    # a choice the question did not offer is named too (the engine's check)
    problem = alice.refused(422, "POST", resolve, json={"choice": "z"})
    assert problem["detail"].startswith("choice: ")


def test_unknown_fields_are_refused_with_their_path(alice: Caller, owned: Owned) -> None:
    builds = f"/projects/{owned.project_id}/builds"
    resolve = f"/escalations/{owned.escalation_id}/resolve"
    before = _counts(alice.api)
    qna, qna_field = {"question": "Who?", "answer": "Me."}, "understanding_qna.0.x"
    for path, body, field in [
        (builds, {"modle": "openai:gpt-4o"}, "modle"),
        (builds, {"network": "none", "owner": "bob"}, "owner"),
        (resolve, {"choice": "a", "answer": "b"}, "answer"),
        ("/projects", {**EXAMPLE_SPEC, "colour": "green"}, "colour"),
        ("/projects", {**EXAMPLE_SPEC, "understanding_qna": [qna], "x": 1}, "x"),
        ("/projects", {**EXAMPLE_SPEC, "understanding_qna": [{**qna, "x": 1}]}, qna_field),
    ]:
        said = alice.field_error(field, "POST", path, json=body)
        # a project is checked as the CLI checks a project file, and says it in its words
        assert ("unknown key; allowed keys are" if path == "/projects" else "Extra inputs") in said
    assert _counts(alice.api) == before
    question = alice.send("GET", f"/escalations/{owned.escalation_id}").json()
    assert question["state"] == "open"


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


def test_bodies_past_the_limit_are_413_announced_or_streamed(
    alice: Caller, root: Caller, owned: Owned
) -> None:
    before = _counts(alice.api)
    big = {**EXAMPLE_SPEC, "goal": "g" * (MAX_BODY_BYTES + 1)}
    for caller, path in [
        (alice, "/projects"),
        (alice, f"/projects/{owned.project_id}/builds"),
        (alice, f"/escalations/{owned.escalation_id}/resolve"),
        (root, "/owners/alice/top-ups"),
    ]:
        caller.refused(413, "POST", path, json=big)  # Content-Length says it
        # a length that lies: refused on the header alone
        caller.refused(413, "POST", path, content=b"{}", headers={"content-length": "99999999"})
        # chunked, no length: counted as it arrives
        caller.refused(413, "POST", path, content=_chunks(MAX_BODY_BYTES + 1), headers=JSON)
    assert _counts(alice.api) == before
    # under the limit, chunked: served as usual
    text = b'{"choice": "b"}' + b" " * (MAX_BODY_BYTES - 100)
    streamed = alice.send(
        "POST",
        f"/escalations/{owned.escalation_id}/resolve",
        content=iter([text[:1000], text[1000:]]),
        headers=JSON,
    )
    assert streamed.status_code == 200 and streamed.json()["choice"] == "b"


def test_control_characters_are_refused_before_the_database(
    alice: Caller, root: Caller, owned: Owned
) -> None:
    """A NUL reaches PostgreSQL as an error: it must be refused as bad input first."""
    before = _counts(alice.api)
    for path in [
        "/sessions/%00",
        f"/sessions/{owned.session_id}%00",
        "/projects/prj%00",
        "/escalations/%00",
        f"/escalations/{owned.escalation_id}%1b/resolve",
        "/sessions?cursor=%00",
        "/sessions?project=a%0Ab",
        f"/sessions/{owned.session_id}/events?after=1%00",
    ]:
        method = "POST" if path.endswith("resolve") else "GET"
        alice.refused(400, method, path, json={"choice": "a"} if method == "POST" else None)
    root.refused(400, "POST", "/owners/al%00ice/top-ups", json={"amount_usd": 1})
    for field, body in [
        ("name", {**EXAMPLE_SPEC, "name": "Habit\x00Tracker"}),
        ("goal", {**EXAMPLE_SPEC, "goal": "track\x07habits"}),
        ("idea_brief.problem", {**EXAMPLE_SPEC, "idea_brief": {"problem": "x\x00"}}),
        ("idea_brief.a\x00", {**EXAMPLE_SPEC, "idea_brief": {"a\x00": "x"}}),
        ("idea_brief.nested.1", {**EXAMPLE_SPEC, "idea_brief": {"nested": ["ok", "\x1b[31m"]}}),
    ]:
        alice.field_error(field, "POST", "/projects", json=body)
    builds = f"/projects/{owned.project_id}/builds"
    root.field_error("model", "POST", builds, json={"model": "openai:gpt\x00"})
    resolve = f"/escalations/{owned.escalation_id}/resolve"
    alice.field_error("guidance", "POST", resolve, json={"choice": "a", "guidance": "x\x00y"})
    alice.field_error("choice", "POST", resolve, json={"choice": "a\x00"})
    # line breaks and tabs in guidance are ordinary text
    answered = alice.send("POST", resolve, json={"choice": "a", "guidance": "one\n\ttwo\r\n"})
    assert answered.status_code == 200 and answered.json()["guidance"] == "one\n\ttwo\r\n"
    assert _counts(alice.api) == before


def test_odd_ids_are_absent_not_errors(alice: Caller, root: Caller) -> None:
    for odd in ["x" * 5000, "..", "%25", "a%20b", "%C3%A9t%C3%A9", "%ff%fe", "'; --"]:
        for path in [f"/sessions/{odd}", f"/projects/{odd}", f"/escalations/{odd}"]:
            alice.refused(404, "GET", path)
        alice.refused(404, "POST", f"/sessions/{odd}/cancel")
        alice.refused(404, "GET", f"/sessions/{odd}/events")
        alice.refused(404, "POST", f"/escalations/{odd}/resolve", json={"choice": "a"})
        alice.refused(404, "POST", f"/projects/{odd}/builds", json={})
    for owner in ["x" * 65, "-alice", "al ice", "al%3Bice", "%C3%A9"]:
        root.field_error("path.owner", "POST", f"/owners/{owner}/top-ups", json={"amount_usd": 1})


def test_odd_query_parameters_are_4xx(alice: Caller, owned: Owned) -> None:
    events = f"/sessions/{owned.session_id}/events"
    for query in ["limit=0", "limit=-1", "limit=201", "limit=abc", f"limit={10**30}", "limit="]:
        alice.field_error("query.limit", "GET", f"/sessions?{query}")
    for query in ["limit=0", "limit=1001", "limit=1.5"]:
        alice.field_error("query.limit", "GET", f"{events}?{query}")
    for query in ["after=-1", f"after={2**63}", "after=1e3", "after=x", f"after={'9' * 5000}"]:
        alice.field_error("query.after", "GET", f"{events}?{query}")
        alice.field_error("query.after", "GET", f"{events}/stream?{query}")
    alice.field_error("query.cursor", "GET", f"/sessions?cursor={'c' * 65}")
    alice.field_error("query.state", "GET", "/sessions?state=asleep")
    alice.field_error("query.project", "GET", f"/sessions?project={'p' * 41}")
    # unknown cursors and projects are empty pages, not errors
    for query in ["cursor=nope", "project=prj_nope", "cursor=%E2%98%83", "state=finished"]:
        page = alice.send("GET", f"/sessions?{query}")
        assert page.status_code == 200 and page.json() == {"items": [], "next_cursor": None}
    # a repeated parameter is the last one, still validated
    assert alice.send("GET", "/sessions?limit=1&limit=2").status_code == 200
    alice.field_error("query.limit", "GET", "/sessions?limit=1&limit=0")


def test_one_idempotency_key_sent_many_times_at_once_starts_one_build(
    alice: Caller, owned: Owned
) -> None:
    """A double click, or a client retrying before the first answer: the requests wait for
    the first one's answer instead of each starting a build (or failing as a conflict)."""
    engine = alice.api.engine
    engine.request_cancel(owned.session_id)  # the first build is over: another may start
    builds, key = f"/projects/{owned.project_id}/builds", {"Idempotency-Key": "double-click"}
    before = len(engine.sessions())
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: alice.send("POST", builds, json={}, headers=key), range(8))
        )
    assert [a.status_code for a in answers] == [202] * 8, [a.text for a in answers]
    assert len({a.json()["session_id"] for a in answers}) == 1
    assert len(engine.sessions()) == before + 1
    # A refused request gives its key back: a retry with it may act once the way is clear.
    refused = alice.send("POST", builds, json={}, headers={"Idempotency-Key": "later"})
    assert refused.status_code == 409  # the build above is active
    engine.request_cancel(answers[0].json()["session_id"])
    assert (
        alice.send("POST", builds, json={}, headers={"Idempotency-Key": "later"}).status_code == 202
    )


def test_idempotency_keys_are_printable_and_per_project(alice: Caller, owned: Owned) -> None:
    engine = alice.api.engine
    engine.request_cancel(owned.session_id)  # the first build is over: another may start
    other = make_owned(engine, "alice")
    engine.request_cancel(other.session_id)
    key = {"Idempotency-Key": "retry-7"}
    first = alice.send("POST", f"/projects/{owned.project_id}/builds", json={}, headers=key)
    again = alice.send("POST", f"/projects/{owned.project_id}/builds", json={}, headers=key)
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    elsewhere = alice.send("POST", f"/projects/{other.project_id}/builds", json={}, headers=key)
    assert elsewhere.status_code == 202
    assert elsewhere.json()["session_id"] != first.json()["session_id"]
    builds = f"/projects/{owned.project_id}/builds"
    for bad in [b"k" * 151, b"tab\there", "caf\u00e9".encode("latin-1"), b""]:
        alice.field_error("header.idempotency-key", "POST", builds, json={}, headers={
            "Idempotency-Key": bad
        })  # fmt: skip
