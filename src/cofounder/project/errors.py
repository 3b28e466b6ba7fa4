"""The project package's errors: one base, and a loader error that lists every problem at once.

Faces map `ProjectBaseError` to an exit code / HTTP 400; the message is meant for a founder, so it
names the file and the exact field, never a pydantic or YAML traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a project file.

    `field` is a dotted path such as `understanding_qna[2].answer`; it is "" when the problem is
    with the file as a whole (missing, unreadable, not YAML, not a mapping).
    """

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}" if self.field else self.problem


class ProjectBaseError(Exception):
    """Base of every error raised by `cofounder.project`."""


class ProjectError(ProjectBaseError):
    """A project file could not be loaded; `problems` lists everything found at once."""

    def __init__(self, path: Path, problems: list[FieldProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{self.path}: {p}" for p in self.problems)

    def __reduce__(self) -> tuple[type[ProjectError], tuple[Path, list[FieldProblem]]]:
        # Keeps the error picklable despite the non-standard constructor.
        return (type(self), (self.path, self.problems))


class ProjectWriteError(ProjectBaseError):
    """The example project file could not be written."""


class ProjectExistsError(ProjectWriteError):
    """Refused to overwrite an existing project file."""
