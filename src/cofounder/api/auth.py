"""Who is calling: a bearer token names an owner (and maybe an admin). Identity comes from the
token only, never from a request body; another owner's object is reported as absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from cofounder.engine import Engine


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


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise HTTPException(401, "send `Authorization: Bearer <token>` (`cofounder token create`)")
    token = engine_of(request).rt.tokens.verify(secret.strip())
    if token is None:
        raise HTTPException(401, "the token is unknown or revoked")
    return Caller(owner=token.owner, admin=token.is_admin, token_id=token.id)


def admin(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if not who.admin:
        raise HTTPException(403, "this route is for admins")
    return who
