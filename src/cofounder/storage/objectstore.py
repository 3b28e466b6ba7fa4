"""The object store that snapshots live in, opened from one URL setting through obstore.

`COFOUNDER_OBJECT_STORE` may be unset (a local directory `objects/` under the data dir), a local
path or `file:///abs/path`, `s3://BUCKET[/PREFIX]` (credentials and region from the usual AWS_*
variables; `COFOUNDER_S3_ENDPOINT` for an S3-compatible endpoint, plain http allowed when the
endpoint says so), or `memory://` (tests only: gone with the process).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from obstore.store import LocalStore, MemoryStore, S3Store

if TYPE_CHECKING:
    from obstore.store import ObjectStore

# S3's bucket naming rules (the general-purpose subset): 3-63 of [a-z0-9.-], alnum at both ends.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_USAGE = (
    "use s3://BUCKET or s3://BUCKET/PREFIX, file:///ABSOLUTE/PATH, a local path, or leave it unset"
)


class ObjectStoreConfigError(ValueError):
    """The object-store URL or endpoint is malformed; the message names what is wrong."""


@dataclass(frozen=True)
class Location:
    kind: Literal["local", "s3", "memory"]
    path: Path | None = None  # local
    bucket: str = ""  # s3
    prefix: str = ""  # s3


def parse_location(url: str) -> Location:
    """Check an object-store URL's shape without touching the network or the disk."""
    text = url.strip()
    if not text:
        raise ObjectStoreConfigError(f"object store URL is empty; {_USAGE}")
    if "://" not in text:
        return Location("local", path=Path(text).expanduser())
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return Location("memory")
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ObjectStoreConfigError(
                f"object store URL {url!r}: a file URL needs an absolute path, "
                "like file:///var/lib/cofounder/objects"
            )
        return Location("local", path=Path(parts.path))
    if scheme in ("s3", "s3a"):
        bucket = parts.netloc
        if not bucket:
            raise ObjectStoreConfigError(
                f"object store URL {url!r} names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX"
            )
        if parts.query or parts.fragment or "@" in bucket or ":" in bucket:
            raise ObjectStoreConfigError(
                f"object store URL {url!r}: put credentials in AWS_* variables and the endpoint "
                "in COFOUNDER_S3_ENDPOINT, not in the URL"
            )
        if not _BUCKET.match(bucket) or ".." in bucket:
            raise ObjectStoreConfigError(
                f"object store URL {url!r}: {bucket!r} is not a valid S3 bucket name "
                "(3-63 characters: lowercase letters, digits, '.' and '-')"
            )
        prefix = parts.path.strip("/")
        if "//" in prefix:
            raise ObjectStoreConfigError(f"object store URL {url!r}: empty segment in the prefix")
        return Location("s3", bucket=bucket, prefix=prefix)
    raise ObjectStoreConfigError(
        f"object store URL {url!r}: unsupported scheme {scheme!r}; {_USAGE}"
    )


def check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ObjectStoreConfigError(
            f"S3 endpoint {endpoint!r} is not an http(s) URL, like http://127.0.0.1:9000"
        )
    return endpoint.strip().rstrip("/")


def open_object_store(
    url: str | None, *, default_dir: Path, s3_endpoint: str | None = None
) -> ObjectStore:
    """Open the store; `default_dir` is used when `url` is unset, relative paths resolve
    against the current directory. Raises ObjectStoreConfigError for a malformed setting."""
    location = parse_location(url) if url else Location("local", path=default_dir)
    if location.kind == "memory":
        return MemoryStore()
    if location.kind == "local":
        assert location.path is not None
        root = location.path.resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ObjectStoreConfigError(
                f"object store directory {root} is unusable: {exc}"
            ) from exc
        return LocalStore(root)
    endpoint = check_endpoint(s3_endpoint) if s3_endpoint else None
    if endpoint is None:
        return S3Store(location.bucket, prefix=location.prefix or None)
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        endpoint=endpoint,
        client_options={"allow_http": endpoint.startswith("http://")},
    )


def describe(store: ObjectStore) -> str:
    """A short human name for logs and errors (never credentials)."""
    if isinstance(store, LocalStore):
        return f"file://{store.prefix}"
    if isinstance(store, S3Store):
        bucket = store.config.get("bucket", "?")
        return f"s3://{bucket}/{store.prefix or ''}".rstrip("/")
    return type(store).__name__
