"""The commented example project that `cofounder init DIR` writes: the file format, by example."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cofounder.project.errors import ProjectExistsError, ProjectWriteError
from cofounder.project.spec import PROJECT_FILENAME

EXAMPLE_PROJECT = """\
# cofounder.yaml: what you want built. Edit it, then run `cofounder build` on this folder.
# Lines starting with '#' are comments. Text with ':' or '#' in it is safest in "quotes".

# name (required): a short name for the project, one line, up to 100 characters.
name: Habit Tracker

# idea_brief (required): your idea in your own words. Any keys you like; values may be text,
# numbers, true/false, lists or nested sections. It is shown to the builder exactly as written.
idea_brief:
  problem: People start new habits with enthusiasm and drop them within two weeks.
  audience: Busy adults who want a simple daily check-in, not another complicated app.
  core_features:
    - Add a habit with a name and how often you want to do it
    - Tick off today's habits in one click
    - See your current streak for each habit
  look_and_feel: Calm, minimal, works well on a phone.
  out_of_scope:
    - Accounts and logins (one person, one device for now)

# understanding_qna (optional): answers to the questions the builder would ask you first.
# Each item has a question and an answer. Leave the list empty ([]) if you have none.
understanding_qna:
  - question: Where should the data be kept?
    answer: On the server, in a simple file or database; nothing fancy.
  - question: What happens when someone misses a day?
    answer: The streak resets to zero, but the history is kept.

# goal (required): what "done" means, in plain words. The builder works until this is true.
goal: >-
  A small web app I can open in a browser to add habits, tick them off each day and see
  my streaks, with its own tests passing and a short guide on how to start it.

# tier (optional): your plan, which sets the budget. One of bootstrapper, partner, cto_scale.
tier: bootstrapper

# owner (optional): who pays for the build; letters, digits, '_', '.' and '-' only.
owner: founder

# model (optional): which AI model does the building, written PROVIDER:NAME.
#   scripted:PATH     replay a recorded run from a trajectory file (PATH is relative to this
#                     folder); costs nothing, useful for demos and tests
#   anthropic:MODEL   an Anthropic model, e.g. anthropic:claude-sonnet-4-5
#   openai:MODEL      an OpenAI (or compatible) model, e.g. openai:gpt-4o
# Leave it commented out to use the default from your settings.
# model: anthropic:claude-sonnet-4-5

# network (optional): none (the default; the sandbox has no network) or egress (the app's
# setup may download packages from public registries; this machine and private networks stay
# unreachable).
# network: none
"""


def write_example(directory: Path, *, overwrite: bool = False) -> Path:
    """Write EXAMPLE_PROJECT to `directory/cofounder.yaml` (creating the directory).

    Refuses to replace an existing file unless `overwrite`; the write is atomic either way,
    so an interrupted init never leaves a half-written project file.
    """
    target = directory / PROJECT_FILENAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ProjectWriteError(f"cannot write {target}: {directory} is not a directory") from None
    except OSError as exc:
        raise ProjectWriteError(f"cannot create {directory}: {exc.strerror or exc}") from None
    if target.exists() and not overwrite:
        raise ProjectExistsError(
            f"{target} already exists; not overwriting it"
            " (edit it, delete it, or choose another directory)"
        )
    try:
        _atomic_write(target, EXAMPLE_PROJECT, exclusive=not overwrite)
    except FileExistsError:
        raise ProjectExistsError(f"{target} already exists; not overwriting it") from None
    except OSError as exc:
        raise ProjectWriteError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _atomic_write(target: Path, text: str, *, exclusive: bool) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if exclusive:
            os.link(tmp, target)  # fails with FileExistsError if someone raced us
        else:
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
