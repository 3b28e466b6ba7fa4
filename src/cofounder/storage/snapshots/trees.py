"""A snapshot as one small object per directory, so one change rewrites only its path.

A flat manifest of a 5,000-file workspace is about a megabyte, written again for every
iteration that changed one file. Stored as trees (one per directory, naming its entries and its
subdirectories' trees by hash, like git), an unchanged directory keeps its tree's hash and is
not written again: one changed file costs its blob, the trees on its path and a root record.
Trees are compressed JSON; a tree's id is the sha256 of its uncompressed body. Pure data: the
store fetches and writes them.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from cofounder.storage.snapshots.manifest import (
    SHA256,
    Manifest,
    ManifestEntry,
    SnapshotError,
    decode_name,
    encode_name,
)

FORMAT = 2
MAX_TREE_BYTES = 64 * 1024 * 1024  # decompressed; a bigger one is refused as corrupt
_FIELDS = ("name", "kind", "mode", "size", "sha256", "target", "mtime_ns", "tree")


@dataclass(frozen=True)
class Tree:
    sha: str
    body: bytes  # uncompressed canonical JSON

    def stored(self) -> bytes:
        return zlib.compress(self.body, 6)


def tree_key(sha: str) -> str:
    return f"trees/{sha[:2]}/{sha}"


def root_body(root: str) -> bytes:
    """The manifest object of a tree snapshot; its sha256 is the snapshot id."""
    return json.dumps({"format": FORMAT, "root": root}, separators=(",", ":")).encode()


def root_of(body: bytes) -> str | None:
    """The root tree a stored manifest names, or None for a flat (format 1) manifest."""
    if not body.startswith(b'{"format"'):
        return None
    try:
        raw = json.loads(body)
        root = raw["root"]
        ok = raw.get("format") == FORMAT and isinstance(root, str) and SHA256.match(root)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise SnapshotError("snapshot manifest has an unknown format")
    return str(root)


def parent_dir(path: str) -> str:
    """The encoded path of the directory holding the encoded manifest path ('' for the root)."""
    return _split(path)[0]


def _split(path: str) -> tuple[str, str]:
    """(parent, name) of an encoded manifest path, both encoded again."""
    if not path.startswith("\x00"):  # a plain UTF-8 path: its parts are plain too
        parent, _, name = path.rpartition("/")
        return parent, name
    parent, _, name = decode_name(path).rpartition("/")
    return encode_name(parent), encode_name(name)


def _join(parent: str, name: str) -> str:
    if not parent:
        return name
    if not parent.startswith("\x00") and not name.startswith("\x00"):
        return f"{parent}/{name}"
    return encode_name(f"{decode_name(parent)}/{decode_name(name)}")


TreeMemo = dict[str, tuple[list[tuple[ManifestEntry, str | None]], Tree]]


def build_trees(
    entries: list[ManifestEntry], memo: TreeMemo | None = None
) -> tuple[str, dict[str, Tree]]:
    """The root tree's id and every directory's tree, by directory path ('' is the root).

    With `memo` (kept by the caller between calls), a directory whose entries are the very
    same objects as last time, with the same subtrees, reuses its tree without re-encoding.
    """
    children: dict[str, list[tuple[str, ManifestEntry]]] = defaultdict(list)
    for entry in entries:
        parent, name = _split(entry.path)
        children[parent].append((name, entry))
    dirs = [""] + [e.path for e in entries if e.kind == "dir"]
    dirs.sort(key=lambda d: decode_name(d).count("/") + (1 if d else 0), reverse=True)
    trees: dict[str, Tree] = {}
    for directory in dirs:
        listed = sorted(children.get(directory, ()), key=lambda item: item[0])
        parts = [(e, trees[e.path].sha if e.kind == "dir" else None) for _, e in listed]
        kept = memo.get(directory) if memo is not None else None
        if kept is not None and _same(kept[0], parts):
            trees[directory] = kept[1]
            continue
        rows = []
        for (name, entry), (_, sub) in zip(listed, parts, strict=True):
            values = (name, entry.kind, entry.mode, entry.size, entry.sha256, entry.target,
                      entry.mtime_ns, sub)  # fmt: skip
            rows.append({k: v for k, v in zip(_FIELDS, values, strict=True) if v is not None})
        body = json.dumps(rows, separators=(",", ":"), sort_keys=True).encode()
        trees[directory] = Tree(hashlib.sha256(body).hexdigest(), body)
        if memo is not None:
            memo[directory] = (parts, trees[directory])
    if memo is not None:
        for gone in set(memo) - set(trees):
            del memo[gone]
    return trees[""].sha, trees


def _same(
    old: list[tuple[ManifestEntry, str | None]], new: list[tuple[ManifestEntry, str | None]]
) -> bool:
    return len(old) == len(new) and all(
        a is b and x == y for (a, x), (b, y) in zip(old, new, strict=True)
    )


def parse_tree(sha: str, stored: bytes) -> list[dict[str, object]]:
    """A stored tree's rows, after checking it decompresses within bounds to its own hash."""
    try:
        inflater = zlib.decompressobj()
        body = inflater.decompress(stored, MAX_TREE_BYTES)
        if inflater.unconsumed_tail or not inflater.eof:
            raise SnapshotError(f"tree {sha} is corrupt (too large or truncated)")
    except zlib.error as exc:
        raise SnapshotError(f"tree {sha} is corrupt ({exc})") from None
    if hashlib.sha256(body).hexdigest() != sha:
        raise SnapshotError(f"tree {sha} is corrupt (hash mismatch)")
    rows = json.loads(body)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise SnapshotError(f"tree {sha} is corrupt (not a list of entries)")
    return rows


def flatten(
    root: str, fetch: Callable[[list[str]], list[bytes]]
) -> tuple[Manifest, dict[str, str]]:
    """The flat manifest a tree snapshot stands for, and the tree id of each directory.

    `fetch` gets tree ids and returns their stored bytes (a level at a time, so a store can
    fetch them concurrently).
    """
    entries: list[ManifestEntry] = []
    tree_ids: dict[str, str] = {}
    level = [("", root)]
    while level:
        stored = fetch([sha for _, sha in level])
        below: list[tuple[str, str]] = []
        for (directory, sha), data in zip(level, stored, strict=True):
            tree_ids[directory] = sha
            for row in parse_tree(sha, data):
                try:
                    entry = ManifestEntry(
                        path=_join(directory, str(row["name"])),
                        **{k: row[k] for k in _FIELDS[1:7] if k in row},
                    )
                    sub = row.get("tree")
                except (KeyError, ValueError) as exc:
                    raise SnapshotError(f"tree {sha} is corrupt ({exc})") from None
                entries.append(entry)
                if entry.kind == "dir":
                    if not isinstance(sub, str) or not SHA256.match(sub):
                        raise SnapshotError(f"tree {sha} is corrupt (a folder without a tree)")
                    below.append((entry.path, sub))
        level = below
    entries.sort(key=lambda e: e.path)
    return Manifest(entries=entries), tree_ids
