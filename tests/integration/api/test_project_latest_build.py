"""A project's newest build in the project view (`latest_build`): the one a newest-first
listing of its builds puts first, only the caller's, none before the first build, and every
listed project's in one query (the dashboard used to ask once per project)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api_support import API, EXAMPLE_SPEC, Api, bearer, make_owned
from sqlalchemy import event

from cofounder.engine.projects import create_project, project_of, start_build
from cofounder.project import ProjectSpec
from cofounder.storage.sessions import row_in


def _get(api: Api, token: str, route: str) -> Any:
    response = api.client.get(f"{API}{route}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def _newest_listed(api: Api, token: str, project_id: str) -> str:
    """The first build of the project's newest-first listing: what the page used to ask for."""
    page = _get(api, token, f"/sessions?order=newest&limit=1&project={project_id}")
    return str(page["items"][0]["session_id"])


def _next_build(api: Api, project_id: str, owner: str) -> str:
    """The project's current build cancelled (a project builds one at a time) and the next one
    queued; its id."""
    active = api.engine.rt.projects.active_build(project_id)
    if active is not None:
        api.engine.request_cancel(active)
    return start_build(api.engine, project_of(api.engine, project_id, owner)).id


def _unbuilt(api: Api, owner: str) -> str:
    spec = ProjectSpec.model_validate({**EXAMPLE_SPEC, "owner": owner, "name": "Unbuilt"})
    return create_project(api.engine, spec).id


def test_each_project_carries_its_newest_build_and_only_its_owners(api_on: Api) -> None:
    engine = api_on.engine
    alice, bob, root = api_on.token("alice"), api_on.token("bob"), api_on.token("root", admin=True)
    built = make_owned(engine, "alice")
    second = _next_build(api_on, built.project_id, "alice")
    engine.request_cancel(second)  # finished: its state is its outcome, as a session's is
    unbuilt = _unbuilt(api_on, "alice")
    theirs = make_owned(engine, "bob")

    listed = _get(api_on, alice, "/projects")
    assert [p["project_id"] for p in listed] == [built.project_id, unbuilt]  # not bob's
    latest = listed[0]["latest_build"]
    assert latest["session_id"] == second == _newest_listed(api_on, alice, built.project_id)
    assert latest["build_version"] == "build_v0_2"
    assert (latest["state"], latest["outcome"]) == ("cancelled", "cancelled")
    assert listed[1]["latest_build"] is None and listed[1]["builds"] == 0
    assert _get(api_on, alice, f"/projects/{built.project_id}")["latest_build"] == latest
    assert _get(api_on, alice, f"/projects/{unbuilt}")["latest_build"] is None

    mine = _get(api_on, bob, "/projects")
    assert [(p["project_id"], p["latest_build"]["session_id"]) for p in mine] == [
        (theirs.project_id, theirs.session_id)
    ]
    assert mine[0]["latest_build"]["state"] == "queued"
    hidden = api_on.client.get(f"{API}/projects/{built.project_id}", headers=bearer(bob))
    assert hidden.status_code == 404 and second not in hidden.text

    everyone = {p["project_id"]: p["latest_build"] for p in _get(api_on, root, "/projects")}
    assert everyone == {
        built.project_id: latest,
        unbuilt: None,
        theirs.project_id: mine[0]["latest_build"],
    }


def test_builds_started_in_the_same_instant_agree_with_the_listing(api_on: Api) -> None:
    """Creation times tie (a coarse clock, a fast retry): the newest is the larger id, as the
    newest-first listing orders them, not whichever row the database meets first."""
    alice = api_on.token("alice")
    owned = make_owned(api_on.engine, "alice")
    later = _next_build(api_on, owned.project_id, "alice")
    with api_on.engine.rt.db.transaction() as session:
        first, second = row_in(session, owned.session_id), row_in(session, later)
        second.created_at = first.created_at
    expected = max(owned.session_id, later)
    assert _newest_listed(api_on, alice, owned.project_id) == expected
    [project] = _get(api_on, alice, "/projects")
    assert project["latest_build"]["session_id"] == expected


@contextmanager
def _statements(api: Api) -> Iterator[list[str]]:
    """The SQL the database runs meanwhile."""
    ran: list[str] = []

    def note(*args: Any) -> None:
        ran.append(str(args[2]))

    db_engine = api.engine.rt.db.engine
    event.listen(db_engine, "before_cursor_execute", note)
    try:
        yield ran
    finally:
        event.remove(db_engine, "before_cursor_execute", note)


def test_the_list_costs_the_same_queries_for_one_project_or_many(api_on: Api) -> None:
    alice = api_on.token("alice")
    make_owned(api_on.engine, "alice")
    _get(api_on, alice, "/projects")  # the token's first use records itself
    with _statements(api_on) as one:
        _get(api_on, alice, "/projects")
    for _ in range(4):
        make_owned(api_on.engine, "alice")
    with _statements(api_on) as five:
        listed = _get(api_on, alice, "/projects")
    assert len(listed) == 5 and all(p["latest_build"] for p in listed)
    assert len(five) == len(one), five
