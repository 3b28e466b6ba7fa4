"""Test support for the HTTP API: an app served in-process on a fresh data dir, tokens, and an
owner's objects (a project, its build session, a question) made through the engine and
storage, with no build run.

A plain module (not conftest) so tests can import it by a name no other folder shadows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cf_support import EXAMPLE
from cofounder.api.app import create_app
from cofounder.config import Settings
from cofounder.engine import Engine
from cofounder.engine.projects import create_project, project_of, start_build
from cofounder.project import ProjectSpec
from cofounder.storage.escalations import Escalation, insert_in
from cofounder.storage.sessions import row_in

API = "/api/v1"
# The example project as a founder posts it: no model (the operator's tiers choose one), no
# owner (the token says who).
EXAMPLE_SPEC: dict[str, Any] = {
    k: v for k, v in yaml.safe_load(EXAMPLE.read_text()).items() if k not in ("model", "owner")
}
_TRAJECTORY = EXAMPLE.parent / "trajectory.yaml"


def api_settings(home: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a test server: builds use the example's scripted model (as an operator
    would configure it), so a build needs no network."""
    fields: dict[str, Any] = {
        "home": home,
        "database_url": database_url,
        "tiers": {"bootstrapper": {"coder": f"scripted:{_TRAJECTORY}"}},
        **overrides,
    }
    return Settings(**fields)


@dataclass(frozen=True)
class Api:
    """A running app (lifespan entered), its engine, and a client that never raises the
    server's exceptions (a 500 is an answer to assert on, like any other)."""

    app: FastAPI
    client: TestClient
    engine: Engine

    def token(self, owner: str, *, admin: bool = False) -> str:
        return self.engine.create_token(owner, admin=admin)[1]

    def revoked_token(self, owner: str) -> str:
        record, secret = self.engine.create_token(owner, admin=False)
        assert self.engine.revoke_token(record.id)
        return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def serve(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(app=app, client=client, engine=app.state.engine)


@dataclass(frozen=True)
class Owned:
    """One owner's objects: a project, its first build (queued) and an open question in it."""

    owner: str
    project_id: str
    session_id: str
    escalation_id: str


def make_owned(engine: Engine, owner: str) -> Owned:
    spec = ProjectSpec.model_validate({**EXAMPLE_SPEC, "owner": owner})
    project = create_project(engine, spec)
    session = start_build(engine, project_of(engine, project.id, owner))
    escalation = open_question(engine, session.id)
    return Owned(owner, project.id, session.id, escalation.id)


def open_question(engine: Engine, session_id: str, iteration: int = 1) -> Escalation:
    """An open question with options `a` and `b`, recorded as the engine records one."""
    now = datetime.now(UTC)
    question = Escalation.model_validate(
        {
            "id": f"{session_id}-{iteration}-0",
            "session_id": session_id,
            "iteration": iteration,
            "key": f"ask:{iteration}:0",
            "reason": "asked",
            "problem": "Which colour should the buttons be?",
            "tried": [],
            "recommendation": "a",
            "options": [{"key": "a", "label": "Green"}, {"key": "b", "label": "Blue"}],
            "default_option": "a",
            "can_continue": True,
            "deadline": now + timedelta(hours=1),
            "state": "open",
            "created_at": now,
        }
    )
    with engine.rt.db.transaction() as session:
        insert_in(session, question)
    return question


def put_to_sleep(engine: Engine, session_id: str) -> None:
    """The session as a budget sleep leaves it: only its row says when it wakes."""
    with engine.rt.db.transaction() as session:
        row = row_in(session, session_id)
        row.state = "sleeping"
        row.wake_at = datetime.now(UTC) + timedelta(hours=1)
