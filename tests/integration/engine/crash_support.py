"""Helpers to compare whole build sessions: workspace bytes, transcript, events, model requests."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from cofounder.storage import Database, EventLog, Transcript

CACHE_DIRS = {"__pycache__", ".pytest_cache"}
_VOLATILE = [
    (re.compile(r"\b\d+(\.\d+)?\s?(ms|s)\b"), "<dur>"),
    (re.compile(r"/tmp/tmp\.[A-Za-z0-9]+"), "/tmp/<tmp>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?"), "<ts>"),
    (re.compile(r"\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]"), "[<http-log-time>]"),
]


def workspace_digest(root: Path) -> dict[str, str]:
    """path -> mode + sha256 for every file and symlink, caches aside."""
    digest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in CACHE_DIRS]
        for name in filenames:
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                digest[rel] = "link:" + os.readlink(full)
            else:
                mode = oct(full.stat().st_mode & 0o777)
                digest[rel] = mode + ":" + hashlib.sha256(full.read_bytes()).hexdigest()
        for name in dirnames:
            digest[(Path(dirpath) / name).relative_to(root).as_posix() + "/"] = "dir"
    return digest


def normalise(text: str) -> str:
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return text


def transcript_of(db_url: str, session_id: str) -> list[str]:
    db = Database(db_url)
    try:
        return [normalise(m.model_dump_json()) for m in Transcript(db).messages(session_id)]
    finally:
        db.close()


def event_seqs_and_types(db_url: str, session_id: str) -> list[tuple[int, str]]:
    db = Database(db_url)
    try:
        return [(e.seq, e.type) for e in EventLog(db).read(session_id, limit=100_000)]
    finally:
        db.close()


def requested_turns(home: Path, session_id: str) -> list[int]:
    log = home / "sessions" / session_id / "model-requests.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [e["turn"] for e in entries if not e.get("failed")]


def tool_pairing_problems(messages_json: list[str]) -> list[str]:
    """Every assistant tool_use must be answered, in order, by the next user message."""
    problems: list[str] = []
    messages = [json.loads(m) for m in messages_json]
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if not uses:
            continue
        if i + 1 >= len(messages):
            problems.append(f"message {i}: tool_use without any following results")
            continue
        answer = messages[i + 1]
        results = [b["tool_use_id"] for b in answer["content"] if b["type"] == "tool_result"]
        if answer["role"] != "user" or results != uses:
            problems.append(f"message {i}: uses {uses} answered by {results}")
    return problems
