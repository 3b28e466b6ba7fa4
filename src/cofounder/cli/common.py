"""What every command shares: its options, the two consoles, failing with an exit code, and
opening the settings, the catalog or the engine, and resolving a session id or failing.

Only `typer` is imported at module level: settings (pydantic), the database (SQLAlchemy) and
rich load when a command first asks for them, so `--version` and `-h` start fast.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from cofounder.config import Settings
    from cofounder.engine import Catalog, Engine
    from cofounder.storage import SessionRecord

C = TypeVar("C", bound="Catalog")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BUSY = 75  # EX_TEMPFAIL: refused for now (queue full, daily cap); retry later
# Option ranges: past them a number would overflow a database integer (2^63) mid-command.
MAX_TOOL_CALLS = 1_000_000  # as Settings.max_tool_calls
MAX_SEQ = 2**63 - 1

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data dir (default $COFOUNDER_HOME, else ./.cofounder)."),
]
SessionId = Annotated[str, typer.Argument(help="Session id (a unique prefix is enough).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
AsOwner = Annotated[
    str | None,
    typer.Option("--as", help="Who you are (default $COFOUNDER_USER); must be the owner."),
]


@functools.cache
def out() -> Console:
    """Standard output for people (JSON goes out through `print`)."""
    from rich.console import Console

    return Console(highlight=False)


@functools.cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> NoReturn:
    """Print `error: MESSAGE` to stderr and exit with `code`. The message is shown as text,
    controls escaped: it may echo input (ids, paths, store errors), so it is never markup."""
    from rich.text import Text

    from cofounder.cli.inert import inert

    err().print(Text.assemble(("error:", "bold red"), " ", inert(message, multiline=True)))
    raise typer.Exit(code)


def open_settings(data_dir: Path | None) -> Settings:
    from rich.text import Text

    from cofounder.cli.inert import inert
    from cofounder.config import ConfigError, Settings, load_settings
    from cofounder.config_env import misspelt

    for given, meant in misspelt(os.environ, Settings.model_fields):
        err().print(Text(f"warning: {inert(given)} is not a setting (did you mean {meant}?)"))
    try:
        return load_settings(data_dir)
    except ConfigError as exc:  # each problem names its source: env var, TOML key, --data-dir
        fail("bad configuration: " + "\n  ".join(exc.problems), EXIT_BAD_INPUT)


def open_catalog(data_dir: Path | None) -> Catalog:
    """Sessions, read and steered without DBOS: what every read-only command opens."""
    from cofounder.engine import Catalog

    return _opened(Catalog, data_dir)


def open_engine(data_dir: Path | None) -> Engine:
    """The engine that runs sessions (DBOS): only commands that run one pay for it."""
    from cofounder.engine import Engine

    return _opened(Engine, data_dir)


def _opened(kind: type[C], data_dir: Path | None) -> C:
    from cofounder.engine import ConfigurationError

    settings = open_settings(data_dir)
    try:
        return kind(settings)
    except ConfigurationError as exc:
        fail(f"bad configuration: {exc}", EXIT_BAD_INPUT)


def resolve_or_fail(catalog: Catalog, session_id: str) -> SessionRecord:
    """The session a typed id or unique prefix names; exit 2 naming the problem otherwise."""
    from cofounder.engine import BadInputError

    try:
        return catalog.resolve_session(session_id)
    except BadInputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def acting_as(as_owner: str | None, record: SessionRecord, verb: str) -> str:
    """Who is acting on the session (`--as`, else $COFOUNDER_USER): its owner, or exit 2."""
    who = as_owner or os.environ.get("COFOUNDER_USER")
    if not who:
        fail("say who you are with --as OWNER (or set COFOUNDER_USER)", EXIT_BAD_INPUT)
    if who != record.owner:
        fail(
            f"only the session's owner may {verb}; {who!r} is not the owner of session {record.id}",
            EXIT_BAD_INPUT,
        )
    return who
