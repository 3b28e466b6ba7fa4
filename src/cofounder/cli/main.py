"""The `cofounder` command line. Exit codes: 0 completed/ok, 1 failure, 2 bad input.

This module only builds the app and registers the command groups, each in its own module
(`run_commands`, `session_commands`, ...), whose shared glue is `cli.common`. Nothing heavy
is imported here: each command imports what it needs when it runs (see benchmarks/cli_startup.py).
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Annotated

import typer

from cofounder.cli import (
    budget_commands,
    conversation_commands,
    escalation_commands,
    model_commands,
    preview_commands,
    run_commands,
    serve_commands,
    session_commands,
    snapshot_commands,
    worker_commands,
)

app = typer.Typer(
    name="cofounder",
    help="Turn a founder's idea into a running app, durably and within budget.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"cofounder {version('cofounder')}")
        raise typer.Exit(0)


# Commands that import nothing which logs (tests/unit/cli/test_startup_imports.py proves it), so
# they skip configuring structlog, a tenth of a second. Any other command configures it first.
QUIET_COMMANDS = frozenset(
    {
        "sessions",
        "status",
        "events",
        "workspace",
        "docs",
        "escalations",
        "budget",
        "models",
        "workers",
    }
)
_quiet_command_ran = False


@app.callback()
def _main_options(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Turn a founder's idea into a running app, durably and within budget."""
    # Here, not in main(): `--version` and `-h` end before this runs.
    global _quiet_command_ran
    _quiet_command_ran = ctx.invoked_subcommand in QUIET_COMMANDS
    if not _quiet_command_ran:
        from cofounder.logs import configure_logging

        configure_logging()


for group in (
    run_commands,
    session_commands,
    snapshot_commands,
    model_commands,
    budget_commands,
    escalation_commands,
    conversation_commands,
    preview_commands,
    worker_commands,
    serve_commands,
):
    group.register(app)


def _one_line_summaries(typer_app: typer.Typer) -> None:
    """The command list shows each docstring's first paragraph; Typer's rich mode keeps its
    source line breaks there (a ragged list at any width), so give each one joined up."""
    for info in typer_app.registered_commands:
        doc = info.help or (info.callback.__doc__ if info.callback else None)
        if info.short_help is None and doc:
            info.short_help = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


_one_line_summaries(app)


def main() -> None:
    """The console script. A quiet command leaves by `os._exit` once its output is flushed:
    tearing the interpreter down (pydantic's and SQLAlchemy's objects) takes about a tenth of
    a second, and such a command leaves nothing behind that needs it (no DBOS, no threads, no
    atexit work; a write it made is committed). Any other way out is Python's usual one."""
    try:
        app()
    except SystemExit as exc:
        if _quiet_command_ran and isinstance(exc.code, int | None) and _flushed():
            os._exit(exc.code or 0)
        raise


def _flushed() -> bool:
    """False when the output cannot be flushed: the usual exit then reports why."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return False
    return True
