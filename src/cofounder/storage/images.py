"""Screenshots and other images, stored once by content in the object store.

Conversations hold only a reference (`sha256:<hex>`), never the bytes: a checkpoint stays
small however many screenshots a session takes, and the bytes are fetched (and verified) only
when a recent turn is sent to a model or a person asks to see them. Images live under their
own prefix so snapshot pruning never touches them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from obstore.exceptions import AlreadyExistsError, BaseError

if TYPE_CHECKING:
    from obstore.store import ObjectStore

REF_PREFIX = "sha256:"
_CACHE_ITEMS = 16


class ImageStoreError(Exception):
    """An image could not be stored or read; the message names the reference."""


class ImageStore:
    def __init__(self, store: ObjectStore, location: str) -> None:
        self._store = store
        self._location = location
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    @staticmethod
    def key(ref: str) -> str:
        if not ref.startswith(REF_PREFIX) or len(ref) != len(REF_PREFIX) + 64:
            raise ImageStoreError(f"not an image reference: {ref!r}")
        return f"images/{ref.removeprefix(REF_PREFIX)}"

    def put(self, data: bytes) -> str:
        """Store `data` (create-only; the same bytes twice are stored once); its reference."""
        ref = REF_PREFIX + hashlib.sha256(data).hexdigest()
        try:
            self._store.put(self.key(ref), data, mode="create")
        except AlreadyExistsError:
            pass
        except BaseError as exc:
            raise ImageStoreError(f"cannot store image {ref} in {self._location}: {exc}") from exc
        self._remember(ref, data)
        return ref

    def get(self, ref: str) -> bytes:
        """The image's bytes, verified against its reference."""
        with self._lock:
            cached = self._cache.get(ref)
        if cached is not None:
            return cached
        try:
            data = bytes(self._store.get(self.key(ref)).bytes())
        except FileNotFoundError as exc:
            raise ImageStoreError(f"image {ref} is missing from {self._location}") from exc
        except BaseError as exc:
            raise ImageStoreError(f"cannot read image {ref} from {self._location}: {exc}") from exc
        if REF_PREFIX + hashlib.sha256(data).hexdigest() != ref:
            raise ImageStoreError(f"image {ref} is corrupt (hash mismatch)")
        self._remember(ref, data)
        return data

    def _remember(self, ref: str, data: bytes) -> None:
        with self._lock:
            self._cache[ref] = data
            self._cache.move_to_end(ref)
            while len(self._cache) > _CACHE_ITEMS:
                self._cache.popitem(last=False)
