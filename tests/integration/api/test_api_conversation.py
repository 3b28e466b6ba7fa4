"""The founder's conversation with a build over HTTP, on both backends: a message is kept at
once (redacted, at most 4,000 characters) and its answer says when the build will read it (a
sleeper's wake time; a waiting build's question stays open); an ended build takes none. A fork
is queued as the project's next build version from a committed iteration, names its parent in
its view and its first event, and is refused for an iteration never committed. Another owner
gets 404 for both and changes nothing. (Delivery and a fork's run: tests/e2e.)"""

from __future__ import annotations

from typing import Any

from api_support import API, Api, Owned, bearer, make_owned, put_to_sleep

from cofounder.storage.sessions import row_in

SAID = "Please make the buttons green"
KEY = "sk-ant-api03-" + "A" * 40


def _post(api: Api, token: str, path: str, body: dict[str, Any]) -> Any:
    return api.client.post(f"{API}{path}", json=body, headers=bearer(token))


def _problem(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail: str = response.json()["detail"]
    return detail


def _set_state(api: Api, session_id: str, state: str) -> None:
    with api.engine.rt.db.transaction() as session:
        row_in(session, session_id).state = state


def test_a_message_is_kept_redacted_and_says_when_it_is_read(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    alice = api_on.token("alice")
    path = f"/sessions/{owned.session_id}/messages"

    queued = _post(api_on, alice, path, {"text": f"  {SAID}; key {KEY}  "})
    assert queued.status_code == 202, queued.text
    kept = queued.json()
    assert kept["message_id"].startswith("msg_") and kept["by"] == "alice"
    assert kept["text"].startswith(SAID) and KEY not in kept["text"]
    assert kept["delivered_iteration"] is None and kept["read_when"] == "when it starts"

    put_to_sleep(api_on.engine, owned.session_id)
    asleep_session = api_on.engine.session(owned.session_id)
    assert asleep_session is not None
    wake_at = asleep_session.wake_at
    assert wake_at is not None
    asleep = _post(api_on, alice, path, {"text": "and a logo"}).json()
    assert asleep["read_when"] == (
        f"when it wakes from its budget sleep ({wake_at:%Y-%m-%d %H:%M} UTC)"
    )

    _set_state(api_on, owned.session_id, "waiting")
    waiting = _post(api_on, alice, path, {"text": "weekends count"}).json()
    assert waiting["read_when"] == "after your answer to its question"
    (question,) = api_on.engine.escalations(owned.session_id)
    assert question.state == "open"  # a message is not the answer

    listed = api_on.client.get(f"{API}{path}", headers=bearer(alice))
    assert listed.status_code == 200
    assert [m["message_id"] for m in listed.json()] == [
        kept["message_id"],
        asleep["message_id"],
        waiting["message_id"],
    ]
    assert all(m["read_when"] == waiting["read_when"] for m in listed.json())


def test_bad_messages_are_refused_precisely_and_change_nothing(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    alice, bob = api_on.token("alice"), api_on.token("bob")
    path = f"/sessions/{owned.session_id}/messages"

    too_long = _problem(_post(api_on, alice, path, {"text": "x" * 4_001}), 422)
    assert too_long.startswith("text: ") and "4000" in too_long.replace(",", "")
    assert "empty" in _problem(_post(api_on, alice, path, {"text": "   "}), 422)
    assert _problem(_post(api_on, alice, path, {"text": "a\x00b"}), 422)
    assert _problem(_post(api_on, alice, path, {"text": SAID, "as_answer": True}), 422)
    # Another owner: the same 404 as for a session that does not exist.
    _problem(_post(api_on, bob, path, {"text": SAID}), 404)
    _problem(api_on.client.get(f"{API}{path}", headers=bearer(bob)), 404)
    assert api_on.engine.founder_messages(owned.session_id) == []

    api_on.engine.request_cancel(owned.session_id)  # a queued build ends at once
    ended = _problem(_post(api_on, alice, path, {"text": SAID}), 409)
    assert "has ended" in ended
    assert api_on.engine.founder_messages(owned.session_id) == []
    # Steering an ended build names how it ended, as its state field does.
    for verb, wanted in [("wake", "sleeping"), ("resume", "paused")]:
        said = _problem(_post(api_on, alice, f"/sessions/{owned.session_id}/{verb}", {}), 409)
        assert said.endswith(f"is not {wanted} (it is cancelled)")


def _forked(api: Api, owned: Owned, token: str, body: dict[str, Any]) -> Any:
    return _post(api, token, f"/sessions/{owned.session_id}/fork", body)


def test_a_fork_is_the_projects_next_build_and_names_its_parent(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    alice = api_on.token("alice")
    response = _forked(api_on, owned, alice, {"iteration": 0})
    assert response.status_code == 202, response.text
    forked = response.json()
    assert forked["parent_session_id"] == owned.session_id
    assert forked["forked_from_iteration"] == 0
    assert forked["build_version"] == "build_v0_2" and forked["state"] == "queued"

    view = api_on.client.get(f"{API}/sessions/{forked['session_id']}", headers=bearer(alice))
    assert view.status_code == 200
    assert view.json()["owner"] == "alice"
    assert view.json()["parent_session_id"] == owned.session_id
    assert view.json()["forked_from_iteration"] == 0
    events = api_on.client.get(
        f"{API}/sessions/{forked['session_id']}/events", headers=bearer(alice)
    ).json()["events"]
    assert events[0]["type"] == "session_started"
    assert events[0]["payload"]["parent_session_id"] == owned.session_id
    parent = api_on.client.get(f"{API}/sessions/{owned.session_id}", headers=bearer(alice))
    assert parent.json()["parent_session_id"] is None


def test_bad_forks_are_refused_precisely_and_create_nothing(api_on: Api) -> None:
    owned = make_owned(api_on.engine, "alice")
    alice, bob = api_on.token("alice"), api_on.token("bob")
    before = len(api_on.engine.sessions())

    never = _problem(_forked(api_on, owned, alice, {"iteration": 5}), 422)
    assert f"session {owned.session_id} has no committed iteration 5" in never
    assert "0 to 0" in never
    assert _problem(_forked(api_on, owned, alice, {"iteration": -1}), 422)
    assert _problem(_forked(api_on, owned, alice, {}), 422)
    file_backed = _forked(api_on, owned, alice, {"iteration": 0, "model": "scripted:/etc/x"})
    assert "not offered over the API" in _problem(file_backed, 422)
    _problem(_forked(api_on, owned, bob, {"iteration": 0}), 404)
    assert len(api_on.engine.sessions()) == before
