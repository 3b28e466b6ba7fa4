"""Load and validate a ProjectSpec: the founder's idea brief, interview answers and goal.

The names load on first use (`cofounder.lazy`): a command that only needs `TIERS` or the
owner pattern does not load the YAML loader."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cofounder.lazy import lazy_exports

if TYPE_CHECKING:
    from cofounder.project.errors import (
        FieldProblem,
        ProjectBaseError,
        ProjectError,
        ProjectExistsError,
        ProjectWriteError,
    )
    from cofounder.project.example import EXAMPLE_PROJECT, write_example
    from cofounder.project.loader import load_project, spec_from_data
    from cofounder.project.spec import PROJECT_FILENAME, TIERS, ProjectSpec, QnA, Tier

__getattr__ = lazy_exports(
    __name__,
    {
        "FieldProblem": "errors",
        "ProjectBaseError": "errors",
        "ProjectError": "errors",
        "ProjectExistsError": "errors",
        "ProjectWriteError": "errors",
        "EXAMPLE_PROJECT": "example",
        "write_example": "example",
        "load_project": "loader",
        "spec_from_data": "loader",
        "PROJECT_FILENAME": "spec",
        "TIERS": "spec",
        "ProjectSpec": "spec",
        "QnA": "spec",
        "Tier": "spec",
    },
)

__all__ = [
    "EXAMPLE_PROJECT",
    "PROJECT_FILENAME",
    "TIERS",
    "FieldProblem",
    "ProjectBaseError",
    "ProjectError",
    "ProjectExistsError",
    "ProjectSpec",
    "ProjectWriteError",
    "QnA",
    "Tier",
    "load_project",
    "spec_from_data",
    "write_example",
]
