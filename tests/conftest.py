"""Shared fixtures: a real database backend per test (SQLite, and PostgreSQL when available)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cf_support import PG_URL_ENV, Backend, app_db_url

if TYPE_CHECKING:
    from cofounder.storage import Database


def _postgres_admin_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if not url and os.environ.get("COFOUNDER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"COFOUNDER_REQUIRE_POSTGRES=1 but {PG_URL_ENV} is not set")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A brand-new PostgreSQL database, dropped afterwards."""
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip(f"PostgreSQL not available (set {PG_URL_ENV})")
    import psycopg

    name = f"cf_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path / "data", None)
    url = request.getfixturevalue("postgres_url")
    return Backend("postgres", tmp_path / "data", url)


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Backend:
    return Backend("sqlite", tmp_path / "data", None)


@pytest.fixture
def app_db(backend: Backend) -> Iterator[Database]:
    """The application's database on each backend, migrated to the newest schema."""
    from cofounder.storage import Database

    database = Database(app_db_url(backend))
    database.migrate()
    yield database
    database.close()
