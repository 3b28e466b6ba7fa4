"""Who is calling: a bearer token, or the dashboard's signed cookie that names one, gives an
owner (and maybe an admin). Identity comes from the token only, never from a request body;
another owner's object is reported as absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from cofounder.api.cookies import COOKIE, CookieSigner
from cofounder.engine import Engine
from cofounder.storage.tokens import TokenRecord

# A page of another site can make a browser send the cookie with a plain form (SameSite aside,
# older browsers): a change made through the cookie must carry a header no form can set.
CSRF_HEADER = "x-cofounder-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Caller:
    owner: str
    admin: bool
    token_id: str

    def may_see(self, owner: str) -> bool:
        return self.admin or owner == self.owner

    @property
    def scope(self) -> str | None:
        """The owner whose objects a listing shows; None (everyone's) for an admin."""
        return None if self.admin else self.owner

    @classmethod
    def of(cls, token: TokenRecord) -> Caller:
        return cls(owner=token.owner, admin=token.is_admin, token_id=token.id)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def cookie_caller(request: Request) -> Caller | None:
    """The signed-in dashboard user, or None (no cookie, a forged or expired one, or its
    token was revoked since)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    signer: CookieSigner = request.app.state.cookies
    token_id = signer.token_id(cookie)
    token = engine_of(request).rt.tokens.live(token_id) if token_id else None
    return Caller.of(token) if token is not None else None


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization")
    if header is None and COOKIE in request.cookies:
        who = cookie_caller(request)
        if who is None:
            raise HTTPException(401, "the sign-in has expired: sign in again")
        if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
            raise HTTPException(
                403, f"a change made with the sign-in cookie needs {CSRF_HEADER}: 1"
            )
        return who
    scheme, _, secret = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(401, "send `Authorization: Bearer <token>` (`cofounder token create`)")
    token = engine_of(request).rt.tokens.verify(secret.strip())
    if token is None:
        raise HTTPException(401, "the token is unknown or revoked")
    return Caller.of(token)


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.admin:
        raise HTTPException(403, "this route is for admins")
    return who
