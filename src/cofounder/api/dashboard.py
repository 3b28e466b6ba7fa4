"""The founders' dashboard: one HTML shell for every page, its scripts and styles from the
package (no CDN, nothing fetched at run time), and sign-in/sign-out that trade a token for
the signed cookie. The pages read and act only through the public API under /api/v1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from cofounder.api import problems
from cofounder.api.auth import CSRF_HEADER, Caller, cookie_caller, engine_of
from cofounder.api.cookies import COOKIE, MAX_AGE_SECONDS, CookieSigner
from cofounder.api.routes.common import owned_session
from cofounder.engine.errors import NotFoundError

STATIC = Path(__file__).parent / "static"
SHELL = STATIC / "index.html"
# Scripts and styles only from here; the preview frame is the founder's app on its own origin.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src http: https:; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)
auth_router = APIRouter(prefix="/auth", tags=["dashboard sign-in"])


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def _shell(status: int = 200) -> Response:
    return FileResponse(SHELL, status_code=status, headers=HEADERS, media_type="text/html")


def _signed_in(request: Request) -> Caller | Response:
    """The caller, or a redirect to sign-in that comes back here afterwards."""
    who = cookie_caller(request)
    if who is not None:
        return who
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(back, safe='')}", status_code=303)


@router.get("/sign-in")
def sign_in_page() -> Response:
    return _shell()


@router.get("/")
@router.get("/projects")
@router.get("/projects/new")
@router.get("/admin")
def page(request: Request) -> Response:
    who = _signed_in(request)
    return who if isinstance(who, Response) else _shell()


@router.get("/projects/{project_id}")
def project_page(request: Request, project_id: str) -> Response:
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    project = engine_of(request).rt.projects.get(project_id) if len(project_id) <= 64 else None
    found = project is not None and who.may_see(project.owner)
    return _shell(200 if found else 404)


@router.get("/builds/{session_id}")
def build_page(request: Request, session_id: str) -> Response:
    who = _signed_in(request)
    if isinstance(who, Response):
        return who
    try:
        owned_session(engine_of(request), who, session_id)
    except NotFoundError:
        return _shell(404)  # the page itself says so, as for a missing id
    return _shell()


class SignIn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=200)]


class SignedIn(BaseModel):
    model_config = ConfigDict(frozen=True)

    owner: str
    admin: bool


@auth_router.post("/sign-in", response_model=SignedIn)
def sign_in(request: Request, body: SignIn) -> Response:
    """Trade an API token for the dashboard's cookie (asked for with the dashboard's header:
    no other site's page may sign a visitor in as someone else)."""
    if request.headers.get(CSRF_HEADER) != "1":
        return problems.problem(403, f"sign in from the dashboard ({CSRF_HEADER}: 1)")
    token = engine_of(request).rt.tokens.verify(body.token.strip())
    if token is None:
        return problems.problem(401, "that token is unknown or revoked")
    signer: CookieSigner = request.app.state.cookies
    answer = Response(
        SignedIn(owner=token.owner, admin=token.is_admin).model_dump_json(),
        media_type="application/json",
    )
    answer.set_cookie(
        COOKIE,
        signer.issue(token.id),
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


@auth_router.post("/sign-out", status_code=204)
def sign_out(request: Request) -> Response:
    answer = Response(status_code=204)
    answer.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )
    return answer
