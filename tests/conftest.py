"""Shared fixtures: a real database backend per test (SQLite, and PostgreSQL when available),
and a runner for the real `cofounder` CLI in a child process (so it can be SIGKILLed)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "habit-tracker" / "cofounder.yaml"
PG_URL_ENV = "COFOUNDER_TEST_POSTGRES_URL"


@dataclass
class Backend:
    """Where one test's data lives: a data dir plus, for PostgreSQL, a fresh database."""

    name: str
    home: Path
    database_url: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
        env["COFOUNDER_HOME"] = str(self.home)
        if self.database_url:
            env["COFOUNDER_DATABASE_URL"] = self.database_url
        env.update(extra)
        return env

    def cli(
        self, *args: str, timeout: float = 180, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cofounder", *args],
            env=self.env(**extra_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
        )

    def popen(self, *args: str, **extra_env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cofounder", *args],
            env=self.env(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )


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


def app_db_url(backend: Backend) -> str:
    return backend.database_url or f"sqlite:///{backend.home / 'cofounder.sqlite'}"


def session_id_from(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("session: "), f"first line should name the session: {first!r}"
    return first.removeprefix("session: ").strip()
