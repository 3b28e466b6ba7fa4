"""Shared by the E2B backend's tests: the fake cloud (tests/fakes/e2b_cloud.py; E2B's own
cloud cannot be reached from here) and an E2B sandbox on the workspace, driven through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cofounder.sandbox.e2b.backend import E2BSandbox
from fakes.e2b_cloud import FakeCloud, options, patched_cloud


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[FakeCloud]:
    with patched_cloud(tmp_path) as fake:
        yield fake


@pytest.fixture
def sandbox(ws: Path, cloud: FakeCloud) -> Iterator[E2BSandbox]:
    sb = E2BSandbox(ws, options(cloud))
    yield sb
    sb.close()
