"""Fixtures for the HTTP API tests: an app on a fresh SQLite data dir (or on each backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, api_settings, serve

from cf_support import Backend


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app on SQLite, lifespan entered."""
    with serve(api_settings(tmp_path / "data")) as running:
        yield running


@pytest.fixture
def api_on(backend: Backend) -> Iterator[Api]:
    """The app on each backend (SQLite, and PostgreSQL when available)."""
    with serve(api_settings(backend.home, backend.database_url)) as running:
        yield running
