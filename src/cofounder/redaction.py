"""Secret redaction, applied before anything is stored, logged or printed."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

REDACTED = "[REDACTED]"

# Not inside a longer token: `risk-assessment-…` holds `sk-…` and base64 image data holds
# `AIza…` or `eyJ…` by chance; neither is a key.
_START = r"(?<![A-Za-z0-9_\-])"
_END = r"(?![A-Za-z0-9_\-])"
# (shape, replacement): a replacement keeps the label around the secret (`Bearer `, the URL's
# user) so a reader still sees what was there. PEM blocks go whole, cut-off ones too.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*"
            r"PRIVATE KEY-----|(?:\s*[A-Za-z0-9+/=\\]{16,})*)",
            REDACTED,
        ),
        (_START + r"sk-ant-[A-Za-z0-9_\-]{10,}", REDACTED),
        (_START + r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}", REDACTED),
        (_START + r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}" + _END, REDACTED),
        (
            r"(?i)(aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+]{40}"
            r"(?![A-Za-z0-9/+])",
            r"\1" + REDACTED,
        ),
        (_START + r"gh[pousr]_[A-Za-z0-9]{30,}", REDACTED),
        (_START + r"github_pat_[A-Za-z0-9_]{22,}", REDACTED),
        (_START + r"AIza[0-9A-Za-z_\-]{35}" + _END, REDACTED),
        (_START + r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}", REDACTED),
        (_START + r"whsec_[0-9A-Za-z]{20,}", REDACTED),
        (_START + r"xox[abeprs]-[A-Za-z0-9\-]{10,}", REDACTED),
        (
            r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_\-]+",
            r"\1" + REDACTED,
        ),
        (_START + r"npm_[A-Za-z0-9]{36}" + _END, REDACTED),
        (_START + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", REDACTED),
        (r"(?i)(bearer\s+)[A-Za-z0-9._~+/\-]{16,}=*", r"\1" + REDACTED),
        (r"(?i)(authorization:\s*basic\s+)[A-Za-z0-9+/]{8,}={0,2}", r"\1" + REDACTED),
        # `scheme://user:password@host`, but not a template (`:${DB_PASSWORD}@`, `:<pw>@`).
        (
            r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@'\"]*:)(?![$<{%])[^\s@/'\"]+@",
            r"\1" + REDACTED + "@",
        ),
    )
)
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
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
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
