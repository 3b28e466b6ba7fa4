"""The dashboard's doors, without a browser: a token traded for a signed HttpOnly SameSite
cookie; the cookie as a credential for the API (and for nothing once its token is revoked);
changes through the cookie only with the header no other site's form can send; pages that
send the signed-out to sign-in and show another owner's build as not found; the shell's
security headers; and a feed that knows every event type the API streams."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import API, Api, Owned, api_settings, make_owned, serve

from cofounder import events
from cofounder.api.cookies import COOKIE
from cofounder.api.dashboard import STATIC

PAGES = ["/", "/projects", "/projects/new", "/admin"]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with serve(api_settings(tmp_path / "data")) as api:
        yield api


@pytest.fixture
def alice(api: Api) -> Owned:
    return make_owned(api.engine, "alice")


DASHBOARD = {"X-Cofounder-CSRF": "1"}


def _sign_in(api: Api, token: str) -> str:
    response = api.client.post("/auth/sign-in", json={"token": token}, headers=DASHBOARD)
    assert response.status_code == 200, response.text
    return str(response.cookies[COOKIE])


def test_a_token_becomes_a_cookie_no_script_or_other_site_gets(api: Api) -> None:
    token = api.token("alice")
    elsewhere = api.client.post("/auth/sign-in", json={"token": token})  # another site's form
    assert elsewhere.status_code == 403 and COOKIE not in elsewhere.cookies
    response = api.client.post("/auth/sign-in", json={"token": token}, headers=DASHBOARD)
    assert response.json() == {"owner": "alice", "admin": False}
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    value = response.cookies[COOKIE]
    assert token not in value and token.removeprefix("cof_") not in value
    assert api.client.get(f"{API}/me").json() == {"owner": "alice", "admin": False}


@pytest.mark.parametrize("token", ["cof_" + "x" * 43, "nonsense", " "])
def test_a_bad_token_signs_nobody_in(api: Api, token: str) -> None:
    response = api.client.post("/auth/sign-in", json={"token": token}, headers=DASHBOARD)
    assert response.status_code in (401, 422)
    assert COOKIE not in response.cookies
    smuggled = {"token": "x", "owner": "root"}
    assert api.client.post("/auth/sign-in", json=smuggled, headers=DASHBOARD).status_code == 422


def test_a_forged_or_altered_cookie_is_nobody(api: Api) -> None:
    value = _sign_in(api, api.token("alice"))
    api.client.cookies.clear()
    for forged in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "tok_123", "x" * 500):
        api.client.cookies.set(COOKIE, forged)
        assert api.client.get(f"{API}/me").status_code == 401
        page = api.client.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/sign-in?next=%2F"


def test_revoking_the_token_ends_its_cookies(api: Api) -> None:
    token = api.token("alice")
    _sign_in(api, token)
    (record,) = [t for t in api.engine.tokens() if t.owner == "alice"]
    assert api.engine.revoke_token(record.id)
    assert api.client.get(f"{API}/me").status_code == 401


def test_changes_through_the_cookie_need_the_dashboard_header(api: Api, alice: Owned) -> None:
    _sign_in(api, api.token("alice"))
    cancel = f"{API}/sessions/{alice.session_id}/cancel"
    refused = api.client.post(cancel)
    assert refused.status_code == 403 and "x-cofounder-csrf" in refused.json()["detail"]
    session = api.engine.session(alice.session_id)
    assert session is not None and session.outcome is None
    done = api.client.post(cancel, headers={"X-Cofounder-CSRF": "1"})
    assert done.status_code == 200 and done.json()["state"] == "cancelled"
    assert api.client.get(f"{API}/sessions/{alice.session_id}").status_code == 200


def test_signed_out_pages_go_to_sign_in_and_come_back(api: Api, alice: Owned) -> None:
    for path in [*PAGES, f"/projects/{alice.project_id}", f"/builds/{alice.session_id}?x=1"]:
        response = api.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/sign-in?next=%2F")
    assert api.client.get("/sign-in").status_code == 200
    after = api.client.get(f"/builds/{alice.session_id}?x=1", follow_redirects=False)
    assert after.headers["location"] == f"/sign-in?next=%2Fbuilds%2F{alice.session_id}%3Fx%3D1"


def test_another_owners_build_and_project_pages_are_not_found(api: Api, alice: Owned) -> None:
    _sign_in(api, api.token("bob"))
    for path in (f"/builds/{alice.session_id}", f"/projects/{alice.project_id}", "/builds/nope"):
        response = api.client.get(path)
        assert response.status_code == 404, path
        assert alice.session_id not in response.text and "Habit" not in response.text
    _sign_in(api, api.token("alice"))
    assert api.client.get(f"/builds/{alice.session_id}").status_code == 200
    assert api.client.get(f"/projects/{alice.project_id}").status_code == 200


def test_the_shell_allows_only_its_own_scripts(api: Api) -> None:
    _sign_in(api, api.token("alice"))
    shell = api.client.get("/")
    policy = shell.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert shell.headers["x-content-type-options"] == "nosniff"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', shell.text):
        assert api.client.get(asset).status_code == 200, asset
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', shell.text))


def test_the_dashboard_never_writes_html_from_data() -> None:
    """Text from the model, file names and project fields reach the page: every script builds
    elements and text nodes, never markup."""
    for script in (STATIC / "js").rglob("*.js"):
        text = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


def test_the_feed_listens_for_every_event_type() -> None:
    """An SSE message with `event: <type>` reaches only a listener for that type."""
    feed = (STATIC / "js" / "feed.js").read_text()
    listed = set(re.findall(r'"([a-z_]+)"', feed.split("EVENT_TYPES = [")[1].split("];")[0]))
    assert listed == set(events.EVENT_TYPES)
