"""Secret redaction, applied before anything is stored, logged or printed."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

REDACTED = "[REDACTED]"

_PATTERNS = [
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{10,}"),
    re.compile(r"sk-(?:proj-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),
    re.compile(r"xox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{16,}"),
]
# Only high-confidence shapes: a looser `password = ...` rule would also rewrite the agent's own
# code and test fixtures, and the model would then edit files against text that is not there.
_SECRET_ENV_NAME = re.compile(r"(?i)(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)")


def _looks_like_secret(value: str) -> bool:
    # Short or spaced values (POSTGRES_PASSWORD=postgres, SOME_KEY="import json") are common
    # words; replacing them everywhere would corrupt the agent's own code.
    return len(value) >= 12 and not any(c.isspace() for c in value)


def _env_secrets(environ: Mapping[str, str]) -> list[str]:
    values = {v for k, v in environ.items() if _SECRET_ENV_NAME.search(k) and _looks_like_secret(v)}
    return sorted(values, key=len, reverse=True)


def redact_env_secrets(text: str) -> str:
    """Only this process's own secrets (its API keys), which nothing it writes may contain."""
    for value in _process_env_secrets():
        text = text.replace(value, REDACTED)
    return text


@cache
def _process_env_secrets() -> tuple[str, ...]:
    """The process environment is read once: redaction sits on every event and tool output."""
    return tuple(_env_secrets(os.environ))


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace known secret shapes and the values of secret-named environment variables."""
    secrets = _process_env_secrets() if environ is None else _env_secrets(environ)
    for value in secrets:
        text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.groups() else "") + REDACTED,
            text,
        )
    return text


def redact_value(value: Any, redactor: Callable[[str], str] = redact) -> Any:
    """Redact every string inside a JSON-like value."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, list):
        return [redact_value(v, redactor) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v, redactor) for k, v in value.items()}
    return value
