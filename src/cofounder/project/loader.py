"""Load a project file (YAML or JSON) into a ProjectSpec, or explain precisely why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cofounder.project.bounds import check_bounds
from cofounder.project.errors import FieldProblem, ProjectError
from cofounder.project.problems import allowed_keys, describe, problems_from_validation_error
from cofounder.project.spec import PROJECT_FILENAME, ProjectSpec
from cofounder.project.yaml_source import SourceError, parse_json, parse_yaml
from cofounder.textfile import FileRefused, read_limited

MAX_FILE_BYTES = 1024 * 1024


def load_project(path: Path) -> ProjectSpec:
    """Read and validate a project file; a directory means its `cofounder.yaml`.

    Raises ProjectError listing every problem found (file-level problems have field "").
    """
    if path.is_dir():
        path = path / PROJECT_FILENAME
    data = _parse(path, _read_text(path))
    return spec_from_data(data, path=path)


def spec_from_data(data: Any, *, path: Path) -> ProjectSpec:
    """Validate already-parsed data; `path` only labels the errors (e.g. an API payload).

    Size limits (nesting, alias expansion, number range, storable text) are checked first.
    """
    if data is None:
        raise _error(path, f"the file is empty; expected a mapping with keys {_keys()}")
    if not isinstance(data, dict):
        raise _error(
            path, f"the top level must be a mapping with keys {_keys()}, got {describe(data)}"
        )
    too_large = check_bounds(data)
    if too_large:
        raise ProjectError(path, too_large)
    try:
        return ProjectSpec.model_validate(data)
    except ValidationError as exc:
        raise ProjectError(path, problems_from_validation_error(exc)) from None


def _read_text(path: Path) -> str:
    try:
        raw = read_limited(path, MAX_FILE_BYTES, what="project file")
    except FileRefused as exc:
        raise _error(path, str(exc)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(path, f"the file is not UTF-8 text (bad byte at offset {exc.start})") from None


def _parse(path: Path, text: str) -> Any:
    try:
        return parse_json(text) if path.suffix.lower() == ".json" else parse_yaml(text)
    except SourceError as exc:
        raise ProjectError(path, [FieldProblem(exc.field, str(exc))]) from None


def _error(path: Path, problem: str) -> ProjectError:
    return ProjectError(path, [FieldProblem("", problem)])


def _keys() -> str:
    return ", ".join(allowed_keys(ProjectSpec))
