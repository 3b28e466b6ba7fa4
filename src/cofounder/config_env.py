"""Environment variables that look like a setting and are not one.

pydantic-settings ignores an unknown `COFOUNDER_*` variable (the same key in `cofounder.toml`
is refused), so a misspelt one silently changes nothing. A close miss, or a name people
often guess, is worth a warning; other `COFOUNDER_*` names (test hooks, the sandbox's own) are
left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

PREFIX = "COFOUNDER_"
# Read straight from the environment, outside Settings.
ENVIRONMENT_ONLY = frozenset({"COFOUNDER_LOG_LEVEL", "COFOUNDER_LOG_JSON", "COFOUNDER_USER"})
# Names people reach for, and the setting they mean.
GUESSES = {
    "COFOUNDER_DATA_DIR": "COFOUNDER_HOME",
    "COFOUNDER_DATADIR": "COFOUNDER_HOME",
    "COFOUNDER_HOME_DIR": "COFOUNDER_HOME",
    "COFOUNDER_DB_URL": "COFOUNDER_DATABASE_URL",
    "COFOUNDER_DB": "COFOUNDER_DATABASE_URL",
}


def misspelt(environ: Mapping[str, str], fields: Iterable[str]) -> list[tuple[str, str]]:
    """(variable, the setting it probably means) for each variable set that is no setting."""
    known = {PREFIX + field.upper() for field in fields} | ENVIRONMENT_ONLY
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known:
            continue
        meant = GUESSES.get(upper) or next(
            iter(difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.85)), None
        )
        if meant is not None:
            found.append((name, meant))
    return found
