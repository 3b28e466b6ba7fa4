"""pyproject.toml's dependency ranges: a floor that has the APIs the code uses, an upper bound
below the next major (a new major may break us unnoticed), and the locked version inside."""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from cf_support import REPO


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    texts = list(project["project"]["dependencies"])
    for extra in project["project"].get("optional-dependencies", {}).values():
        texts += extra
    for group in project.get("dependency-groups", {}).values():
        texts += [t for t in group if isinstance(t, str)]
    return [Requirement(t) for t in texts]


def locked() -> dict[str, Version]:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    return {p["name"]: Version(p["version"]) for p in lock["package"] if "version" in p}


def by_name(name: str) -> Requirement:
    return next(r for r in requirements() if r.name.lower() == name)


def test_every_range_has_a_floor_and_a_bound_below_the_next_major() -> None:
    for req in requirements():
        specs = {s.operator: Version(s.version) for s in req.specifier}
        if "==" in specs:
            continue  # an exact pin (dbos, e2b): upgraded on purpose, with its tests
        assert ">=" in specs, f"{req}: no floor"
        assert "<" in specs, f"{req}: no upper bound"
        floor, bound = specs[">="], specs["<"]
        assert floor < bound, str(req)
        # `<N` for a major N, or within 0.x (where each minor may break) a bound like `<0.27`.
        assert bound < Version("1") or bound == Version(str(bound.major)), str(req)


def test_locked_versions_lie_inside_the_ranges() -> None:
    versions = locked()
    for req in requirements():
        name = req.name.lower()
        assert name in versions, f"{name} is not in uv.lock"
        assert req.specifier.contains(versions[name], prereleases=True), (
            f"uv.lock has {name} {versions[name]}, outside {req.specifier}"
        )


@pytest.mark.parametrize(("name", "current"), [("rich", "15.0.0"), ("structlog", "26.1.0")])
def test_current_majors_of_rich_and_structlog_are_allowed(name: str, current: str) -> None:
    assert by_name(name).specifier.contains(current)


@pytest.mark.parametrize(
    ("name", "too_old", "why"),
    [
        ("sqlalchemy", "2.0.58", "URL.render_as_string escapes a SQLite path's ? and # from 2.1"),
        ("pydantic-settings", "2.6.1", "NoDecode (config.Settings) arrived in 2.7"),
    ],
)
def test_floors_exclude_versions_without_the_apis_used(name: str, too_old: str, why: str) -> None:
    assert not by_name(name).specifier.contains(too_old), why
