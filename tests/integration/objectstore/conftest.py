"""A real S3 endpoint on loopback (moto in server mode, which enforces conditional writes),
started once per test process on a free port, with one fresh bucket per test."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from obstore.store import ObjectStore


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    client: Any  # boto3's S3 client, untyped

    def new_bucket(self) -> str:
        name = f"cf-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - both are locked dev dependencies
        pytest.skip(f"moto server mode is not installed: {exc}")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:  # pragma: no cover
        pytest.skip(f"moto could not start on 127.0.0.1:{port}: {exc}")
    url = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    yield S3Endpoint(url, client)
    server.stop()


def _s3_store(endpoint: S3Endpoint, bucket: str, prefix: str | None) -> ObjectStore:
    from obstore.store import S3Store

    return S3Store(
        bucket,
        prefix=prefix,
        endpoint=endpoint.url,
        access_key_id="test",
        secret_access_key="test",
        region="us-east-1",
        client_options={"allow_http": True},
    )


@pytest.fixture(params=["local", "s3"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    """The same tests against a local directory and a real S3 endpoint."""
    if request.param == "local":
        from obstore.store import LocalStore

        root = tmp_path / "objects"
        root.mkdir()
        return LocalStore(root)
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    return _s3_store(endpoint, endpoint.new_bucket(), "team/snapshots")
