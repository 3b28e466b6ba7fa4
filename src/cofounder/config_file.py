"""Where settings come from, and naming it in every refusal.

`cofounder.toml` is read here with a size limit and as a regular file only (a FIFO or device
by that name would hang the read); a validation error is named by its source: the environment
variable, the TOML key, or `--data-dir`. Database URLs are built with SQLAlchemy's `URL`, so a
data dir whose path holds `?` or `#` is not cut into a query string or fragment.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from cofounder.textfile import FileRefused, read_limited

CONFIG_FILE = Path("cofounder.toml")
MAX_CONFIG_BYTES = 1024 * 1024
# Drivers this build can open (psycopg 3 is installed; psycopg2 and MySQL drivers are not).
_DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg", "postgres")
_BARE_TOML_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(ValueError):
    """The configuration cannot be used; `problems` lists each one, naming its source and key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def sqlite_url(path: Path) -> str:
    """A SQLite URL for `path`, escaped: a data dir holding `?`, `#` or `%` stays one file."""
    from sqlalchemy.engine import URL  # here: commands that open no database skip SQLAlchemy

    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def check_database_url(url: str) -> None:
    """ValueError unless `url` is a SQLite or PostgreSQL URL this build can open."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL; expected sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from None
    if parsed.drivername not in _DATABASE_DRIVERS:
        raise ValueError(
            f"unsupported database {parsed.drivername!r}; use sqlite:///PATH or"
            " postgresql://USER@HOST/DB"
        )


def read_config_file(path: Path = CONFIG_FILE) -> dict[str, Any]:
    """`cofounder.toml` in the working directory as data ({} when there is none)."""
    if not os.path.lexists(path):
        return {}
    try:
        text = read_limited(path, MAX_CONFIG_BYTES, what="config file").decode("utf-8")
    except FileRefused as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (bad byte at offset {exc.start})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: invalid TOML: nested too deeply"]) from None


def named_problem(
    loc: tuple[int | str, ...],
    msg: str,
    value: Any,
    data_dir: Path | None,
    *,
    secret: bool = False,
) -> str:
    """One validation error as `SOURCE: KEY: problem (got VALUE)`; a secret's value is never
    shown (an error message lands in logs and terminals)."""
    field, rest = str(loc[0]) if loc else "", loc[1:]
    problem = msg.removeprefix("Value error, ")
    if secret:  # pydantic counts a SecretStr's length in "items"
        problem = problem.replace(" items after validation", " characters")
    elif isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        problem += f" (got {shown})"
    inner = _dotted(rest)
    if field == "home" and data_dir is not None:
        return f"--data-dir: {problem}"
    env = f"COFOUNDER_{field.upper()}"
    if any(name.upper() == env for name in os.environ):
        return f"{env}: {inner + ': ' if inner else ''}{problem}"
    key = _dotted(loc)
    return f"{CONFIG_FILE}: {key}: {problem}"


def _dotted(parts: tuple[int | str, ...]) -> str:
    """('prices', 'openai:x', 'input') -> 'prices."openai:x".input'; indices as [N]."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_TOML_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
            text += f".{key}" if text else key
    return text
