"""The dashboard's sign-in cookie: the token's id, signed and dated, never the token itself.

A browser's `EventSource` cannot send an `Authorization` header, so the dashboard signs in
once with a token and then rides a cookie: HttpOnly (no script reads it), SameSite=Lax (no
other site's page sends it with a request of its own; a founder following a link to a build
from an email still arrives signed in), Secure over https. Changes through the cookie also
need a header no form can send (`auth.CSRF_HEADER`). It names the token, so revoking the
token ends every cookie made from it at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer

from cofounder.config import Settings

COOKIE = "cofounder_session"
MAX_AGE_SECONDS = 12 * 3600
KEY_FILE = "secret.key"


def _key(settings: Settings) -> str:
    """The configured key, else the data dir's (made once, readable by its owner only)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = Path(settings.home) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
    else:
        key = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key + "\n")
    if len(key) < 32:
        raise RuntimeError(f"{path}: the dashboard key is shorter than 32 characters")
    return key


class CookieSigner:
    def __init__(self, settings: Settings) -> None:
        self._serializer = URLSafeTimedSerializer(_key(settings), salt="cofounder-dashboard")

    def issue(self, token_id: str) -> str:
        return self._serializer.dumps(token_id)

    def token_id(self, cookie: str) -> str | None:
        """The token this cookie was made from, or None (forged, altered or expired)."""
        if len(cookie) > 400:
            return None
        try:
            value = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None
