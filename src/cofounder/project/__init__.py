"""Load and validate a ProjectSpec: the founder's idea brief, interview answers and goal."""

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
