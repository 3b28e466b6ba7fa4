"""Who may call what: every route under /api/v1 by every kind of caller, from one explicit
table that must match the app's route table (a new route without a row fails, and so does a
row whose route is gone).

Callers: no token, a malformed token, a revoked token (all 401), the owner (alice), another
owner (bob: 404 for alice's objects, exactly as for ids that do not exist; 403 on admin
routes) and an admin (sees everyone's). A refused request changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from api_support import (
    API,
    EXAMPLE_SPEC,
    Api,
    Owned,
    api_settings,
    bearer,
    make_owned,
    put_to_sleep,
    serve,
)
from fastapi.routing import APIRoute, iter_route_contexts
from files_support import add_screenshots

from cofounder.api.app import create_app
from cofounder.engine import Engine

Actor = Literal["anonymous", "malformed", "revoked", "owner", "other", "admin"]
ACTORS: tuple[Actor, ...] = ("anonymous", "malformed", "revoked", "owner", "other", "admin")
# caller: the route acts on the caller's own things (lists, budget, a new project);
# owned: on alice's object named in the path (another owner gets 404);
# admin: only an admin may call it (an owner gets 403).
Guard = Literal["caller", "owned", "admin"]


@dataclass(frozen=True)
class Row:
    ok: int  # the status for alice on her own things, and for the admin
    guard: Guard
    body: dict[str, Any] | None = None
    # puts alice's objects where the verb applies (a sleeping session to wake, ...)
    prepare: Callable[[Engine, Owned], None] | None = None


def _finish(engine: Engine, owned: Owned) -> None:
    engine.request_cancel(owned.session_id)


def _sleep(engine: Engine, owned: Owned) -> None:
    put_to_sleep(engine, owned.session_id)


def _pause(engine: Engine, owned: Owned) -> None:
    assert engine.request_pause(owned.session_id) == "paused"


S = f"{API}/sessions/{{session_id}}"
ACCESS: dict[tuple[str, str], Row] = {
    ("POST", f"{API}/projects"): Row(201, "caller", body=EXAMPLE_SPEC),
    ("GET", f"{API}/projects"): Row(200, "caller"),
    ("GET", f"{API}/projects/{{project_id}}"): Row(200, "owned"),
    # the project's first build has ended, so another may start
    ("POST", f"{API}/projects/{{project_id}}/builds"): Row(202, "owned", {}, _finish),
    ("GET", f"{API}/sessions"): Row(200, "caller"),
    ("GET", S): Row(200, "owned"),
    ("POST", f"{S}/cancel"): Row(200, "owned"),
    ("POST", f"{S}/pause"): Row(200, "owned"),
    ("POST", f"{S}/wake"): Row(200, "owned", prepare=_sleep),
    ("POST", f"{S}/resume"): Row(200, "owned", prepare=_pause),
    ("GET", f"{S}/events"): Row(200, "owned"),
    # a finished session's stream replays its history and ends
    ("GET", f"{S}/events/stream"): Row(200, "owned", prepare=_finish),
    ("GET", f"{S}/escalations"): Row(200, "owned"),
    ("GET", f"{API}/escalations/{{escalation_id}}"): Row(200, "owned"),
    ("POST", f"{API}/escalations/{{escalation_id}}/resolve"): Row(
        200, "owned", {"choice": "b", "guidance": "blue, please"}
    ),
    ("GET", f"{API}/budget"): Row(200, "caller"),
    ("POST", f"{API}/owners/{{owner}}/top-ups"): Row(200, "admin", {"amount_usd": "1.5"}),
    ("GET", f"{API}/workers"): Row(200, "admin"),
    ("GET", f"{S}/docs"): Row(200, "owned"),
    ("GET", f"{S}/export"): Row(200, "owned"),
    ("GET", f"{S}/screenshots"): Row(200, "owned"),
    ("GET", f"{API}/screenshots/{{screenshot_id}}"): Row(200, "owned"),
    ("GET", f"{S}/preview"): Row(200, "owned"),
    ("GET", f"{API}/models"): Row(200, "caller"),
    ("GET", f"{API}/me"): Row(200, "caller"),
    ("POST", f"{S}/messages"): Row(202, "owned", {"text": "green buttons, please"}),
    ("GET", f"{S}/messages"): Row(200, "owned"),
    ("POST", f"{S}/fork"): Row(202, "owned", {"iteration": 0}),
    ("GET", f"{API}/owners"): Row(200, "admin"),
    ("GET", f"{API}/queue"): Row(200, "admin"),
}
# Outside /api/v1 and open to anyone: health, readiness, the schema and its pages, metrics.
PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PUBLIC |= {"/metrics"}
# The dashboard: its sign-in (the token in the body is the credential), its scripts and
# styles, and pages that check the sign-in cookie themselves (test_dashboard_auth.py).
PUBLIC |= {"/auth/sign-in", "/auth/sign-out", "/static", "/sign-in"}
PUBLIC |= {"/", "/projects", "/projects/new", "/admin"}
PUBLIC |= {"/projects/{project_id}", "/builds/{session_id}"}


def _api_routes() -> tuple[set[tuple[str, str]], set[str]]:
    """(method, path) of every API route, and the paths of every other route, as served."""
    app = create_app(api_settings(Path("unused")))
    api: set[tuple[str, str]] = set()
    others: set[str] = set()
    for route in iter_route_contexts(app.routes):
        path = str(route.path)
        if isinstance(route.original_route, APIRoute) and path.startswith(f"{API}/"):
            api |= {(method, path) for method in route.methods or ()}
        else:
            others.add(path)
    return api, others


def test_every_api_route_has_a_row() -> None:
    served, _ = _api_routes()
    missing = sorted(served - ACCESS.keys())
    assert not missing, f"routes without an ACCESS row (add one saying who may call it): {missing}"


def test_no_row_names_a_route_that_is_gone() -> None:
    served, _ = _api_routes()
    assert not sorted(ACCESS.keys() - served), "ACCESS rows for routes the app no longer has"


def test_every_other_route_is_a_known_public_one() -> None:
    _, others = _api_routes()
    assert others <= PUBLIC, f"routes outside {API} that are not known public: {others - PUBLIC}"


@dataclass(frozen=True)
class World:
    api: Api
    tokens: dict[Actor, str | None]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app for the module; each test makes alice fresh objects in it. The daily cap and
    the queue cap are lifted: every test starts a build."""
    home = tmp_path_factory.mktemp("access") / "data"
    unlimited = {"bootstrapper": {"per_owner": 2, "per_project": 2, "per_day": None}}
    with serve(api_settings(home, tier_limits=unlimited, queue_cap=100_000)) as api:
        tokens: dict[Actor, str | None] = {
            "anonymous": None,
            "malformed": "cof_" + "x" * 43,
            "revoked": api.revoked_token("alice"),
            "owner": api.token("alice"),
            "other": api.token("bob"),
            "admin": api.token("root", admin=True),
        }
        make_owned(api.engine, "bob")  # bob has things of his own
        yield World(api, tokens)


def _expected(row: Row, actor: Actor) -> int:
    if actor in ("anonymous", "malformed", "revoked"):
        return 401
    if actor == "other" and row.guard == "owned":
        return 404
    if actor in ("owner", "other") and row.guard == "admin":
        return 403
    return row.ok


def _fingerprint(engine: Engine, owned: Owned) -> tuple[Any, ...]:
    """What any route could change about alice's things or the whole service's."""
    session = engine.session(owned.session_id)
    assert session is not None
    (question,) = engine.escalations(owned.session_id)
    return (
        session.state,
        session.pause_requested,
        session.cancel_requested,
        session.wake_requested,
        question.state,
        engine.rt.projects.get(owned.project_id),
        len(engine.sessions()),
        len(engine.rt.projects.list()),
        engine.owner_status("alice", "bootstrapper").allowance,
        len(engine.founder_messages(owned.session_id)),
    )


def _call(world: World, method: str, path: str, row: Row, actor: Actor) -> Any:
    token = world.tokens[actor]
    headers = bearer(token) if token is not None else {}
    return world.api.client.request(method, path, headers=headers, json=row.body)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("route", sorted(ACCESS), ids=lambda r: f"{r[0]} {r[1]}")
def test_access(world: World, route: tuple[str, str], actor: Actor) -> None:
    method, template = route
    row = ACCESS[route]
    engine = world.api.engine
    owned = make_owned(engine, "alice")
    if row.prepare is not None:
        row.prepare(engine, owned)
    path = template.format(
        session_id=owned.session_id,
        project_id=owned.project_id,
        escalation_id=owned.escalation_id,
        owner="alice",
        screenshot_id=_screenshot(engine, owned, template),
    )
    before = _fingerprint(engine, owned)

    response = _call(world, method, path, row, actor)

    expected = _expected(row, actor)
    assert response.status_code == expected, response.text
    if expected >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == expected
        assert _fingerprint(engine, owned) == before, "a refused request changed something"
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"


# Each route on alice's object, asked by bob, against the same route on an id nobody has.
_ABSENT = {"session_id": "0123456789ab", "project_id": "prj_0123456789ab"}
_ABSENT["escalation_id"] = "0123456789ab-1-0"
_ABSENT["screenshot_id"] = "0123456789ab-9-0"


def _screenshot(engine: Engine, owned: Owned, template: str) -> str:
    """A picture in alice's session, for the route that names one."""
    return add_screenshots(engine, owned.session_id)[0] if "{screenshot_id}" in template else ""


@pytest.mark.parametrize(
    "route",
    sorted(r for r, row in ACCESS.items() if row.guard == "owned"),
    ids=lambda r: f"{r[0]} {r[1]}",
)
def test_another_owners_object_looks_absent(world: World, route: tuple[str, str]) -> None:
    """The 404 for alice's object says exactly what the 404 for a missing one says."""
    method, template = route
    owned = make_owned(world.api.engine, "alice")
    real = {  # the screenshot id holds the session id: replaced first, whole
        "screenshot_id": _screenshot(world.api.engine, owned, template),
        "session_id": owned.session_id,
        "project_id": owned.project_id,
        "escalation_id": owned.escalation_id,
    }
    row = ACCESS[route]
    theirs = _call(world, method, template.format(**real), row, "other")
    nobodys = _call(world, method, template.format(**_ABSENT), row, "other")
    assert theirs.status_code == nobodys.status_code == 404
    redacted = theirs.text
    for key, value in real.items():
        if value:  # "" for a route that names no screenshot
            redacted = redacted.replace(value, _ABSENT[key])
    assert redacted == nobodys.text
    # Every answer has its own request id; nothing else may differ.
    assert _without_request_id(theirs.headers) == _without_request_id(nobodys.headers)


def _without_request_id(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != "x-request-id"}


def test_lists_show_only_the_callers_things(world: World) -> None:
    alice = make_owned(world.api.engine, "alice")
    client = world.api.client

    def listed(actor: Actor, order: str = "newest") -> tuple[set[str], set[str], set[str]]:
        # The module makes many sessions (forks too): alice's is the newest, bob's the oldest.
        token = world.tokens[actor]
        assert token is not None
        sessions = client.get(
            f"{API}/sessions?limit=200&order={order}", headers=bearer(token)
        ).json()
        projects = client.get(f"{API}/projects", headers=bearer(token)).json()
        return (
            {s["owner"] for s in sessions["items"]},
            {s["session_id"] for s in sessions["items"]},
            {p["owner"] for p in projects},
        )

    bob_owners, bob_sessions, bob_project_owners = listed("other")
    assert bob_owners == bob_project_owners == {"bob"}
    assert alice.session_id not in bob_sessions
    alice_owners, alice_sessions, _ = listed("owner")
    assert alice_owners == {"alice"} and alice.session_id in alice_sessions
    admin_owners, _, admin_project_owners = listed("admin")
    assert "alice" in admin_owners and {"alice", "bob"} <= admin_project_owners
    assert "bob" in listed("admin", "oldest")[0]


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "bearer cof_" + "y" * 43, "Bearer x y"],
)
def test_other_shapes_of_authorization_are_401(world: World, header: str) -> None:
    response = world.api.client.get(f"{API}/budget", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_identity_comes_from_the_token_not_the_body(world: World) -> None:
    token = world.tokens["other"]
    assert token is not None
    posted = world.api.client.post(
        f"{API}/projects", json={**EXAMPLE_SPEC, "owner": "alice"}, headers=bearer(token)
    )
    assert posted.status_code == 201 and posted.json()["owner"] == "bob"
