"""load_project: valid files load; every kind of bad file gets precise, field-level problems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cofounder.project import (
    FieldProblem,
    ProjectBaseError,
    ProjectError,
    ProjectSpec,
    load_project,
)

VALID = """\
name: Habit Tracker
idea_brief:
  problem: People drop habits.
  launch: 2025-03-01
  features: [add habit, tick off]
understanding_qna:
  - question: Who is it for?
    answer: Busy adults.
goal: A web app with streaks.
"""


def write(tmp_path: Path, text: str, name: str = "cofounder.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[FieldProblem]:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert isinstance(info.value, ProjectBaseError)
    assert info.value.path == path
    return info.value.problems


def by_field(found: list[FieldProblem]) -> dict[str, str]:
    return {p.field: p.problem for p in found}


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_project(write(tmp_path, VALID))
    assert spec.name == "Habit Tracker"
    assert spec.tier == "bootstrapper"
    assert spec.owner == "founder"
    assert spec.model is None
    assert spec.understanding_qna[0].answer == "Busy adults."
    # dates stay text, so the brief is JSON-serialisable exactly as written
    assert spec.idea_brief["launch"] == "2025-03-01"
    assert ProjectSpec.model_validate_json(spec.model_dump_json()) == spec


def test_directory_means_its_cofounder_yaml(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    assert load_project(tmp_path).name == "Habit Tracker"


def test_json_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"name": "X", "idea_brief": {"a": [1, {"b": null}]}, "goal": "g", "tier": "partner"}',
        "project.json",
    )
    spec = load_project(path)
    assert spec.tier == "partner"
    assert spec.understanding_qna == []


def test_whitespace_is_trimmed(tmp_path: Path) -> None:
    text = VALID.replace("name: Habit Tracker", "name: '  Habit Tracker  '")
    assert load_project(write(tmp_path, text)).name == "Habit Tracker"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    found = problems(path)
    assert found == [FieldProblem("", "no such file")]


def test_missing_file_in_directory_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path)
    assert info.value.path == tmp_path / "cofounder.yaml"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    path.chmod(0)
    assert problems(path) == [FieldProblem("", "cannot read the file: permission denied")]


def test_unreadable_path(tmp_path: Path) -> None:
    not_a_dir = write(tmp_path, "x", "file.txt")
    assert problems(not_a_dir / "cofounder.yaml") == [
        FieldProblem("", "cannot read the file: Not a directory")
    ]


def test_project_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "cofounder.yaml").mkdir()
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path)  # a directory means its cofounder.yaml, which is a directory
    assert info.value.problems == [FieldProblem("", "is a directory, not a project file")]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cofounder.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    [problem] = problems(path)
    assert "not UTF-8" in problem.problem


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "name: X\nidea_brief: [unclosed\ngoal: g\n")
    [problem] = problems(path)
    assert problem.field == ""
    assert problem.problem.startswith("invalid YAML at line 3, column 5:")


def test_json_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{"name": "X",\n}', "p.json")
    [problem] = problems(path)
    assert problem.problem.startswith("JSON syntax error at line 2, column 1:")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + "name: Other\n")
    [problem] = problems(path)
    assert "duplicate key 'name'" in problem.problem
    assert "line 10" in problem.problem


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = VALID + "tier: partner\n"
    text = text.replace(
        "understanding_qna:\n  - question: Who is it for?\n    answer: Busy adults.\n",
        "understanding_qna:\n  - &q\n    question: Who?\n    answer: Me.\n"
        "  - <<: *q\n    answer: You.\n",
    )
    spec = load_project(write(tmp_path, text))
    assert [q.answer for q in spec.understanding_qna] == ["Me.", "You."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping with keys name, idea_brief"),
        ("just text\n", "got text"),
    ],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, expected: str) -> None:
    [problem] = problems(write(tmp_path, text))
    assert problem.field == ""
    assert expected in problem.problem


def test_missing_required_fields(tmp_path: Path) -> None:
    found = by_field(problems(write(tmp_path, "tier: partner\n")))
    assert found == {"name": "is required", "idea_brief": "is required", "goal": "is required"}


def test_unknown_keys_name_the_allowed_ones(tmp_path: Path) -> None:
    text = VALID + "colour: blue\n"
    text = text.replace("    answer: Busy adults.", "    answer: Busy adults.\n    note: x")
    found = by_field(problems(write(tmp_path, text)))
    assert found["colour"] == (
        "unknown key; allowed keys are: name, idea_brief, understanding_qna, goal, tier, owner,"
        " model, network"
    )
    assert found["understanding_qna[0].note"] == "unknown key; allowed keys are: question, answer"


def test_non_text_top_level_key(tmp_path: Path) -> None:
    found = problems(write(tmp_path, VALID + "7: seven\n"))
    assert found == [
        FieldProblem(
            "",
            "unknown key 7; allowed keys are: name, idea_brief, understanding_qna, goal, tier,"
            " owner, model, network",
        )
    ]


def test_wrong_types(tmp_path: Path) -> None:
    text = """\
name: 2024
idea_brief: [a, b]
understanding_qna: {question: q}
goal: true
tier: gold
"""
    found = by_field(problems(write(tmp_path, text)))
    assert found == {
        "name": "must be text, got a number (2024)",
        "idea_brief": "must be a mapping (key: value pairs), got a list",
        "understanding_qna": "must be a list, got a mapping (key: value pairs)",
        "goal": "must be text, got true/false (true)",
        "tier": 'must be one of bootstrapper, partner, cto_scale; got text ("gold")',
    }


def test_qna_items_report_indexed_paths(tmp_path: Path) -> None:
    text = VALID.replace(
        "  - question: Who is it for?\n    answer: Busy adults.\n",
        "  - {question: a, answer: b}\n"
        "  - just a string\n"
        "  - {question: c, answer: '   '}\n"
        "  - {question: d}\n",
    )
    found = by_field(problems(write(tmp_path, text)))
    assert found == {
        "understanding_qna[1]": (
            'must be a mapping with keys question and answer, got text ("just a string")'
        ),
        "understanding_qna[2].answer": "must not be empty",
        "understanding_qna[3].answer": "is required",
    }


def test_empty_strings_and_empty_brief(tmp_path: Path) -> None:
    text = "name: ''\nidea_brief: {}\ngoal: '  '\n"
    found = by_field(problems(write(tmp_path, text)))
    assert found == {
        "name": "must not be empty",
        "idea_brief": "must not be empty",
        "goal": "must not be empty",
    }


def test_name_is_one_line_of_sane_length(tmp_path: Path) -> None:
    found = by_field(problems(write(tmp_path, VALID.replace("Habit Tracker", "x" * 101))))
    assert found == {"name": "is too long (101 characters; the limit is 100)"}
    found = by_field(
        problems(write(tmp_path, VALID.replace("name: Habit Tracker", 'name: "a\\nb"')))
    )
    assert found == {"name": "must be a single line of at most 100 characters"}


def test_owner_and_model_formats(tmp_path: Path) -> None:
    text = VALID + "owner: ../etc\nmodel: claude\n"
    found = by_field(problems(write(tmp_path, text)))
    assert found["owner"].startswith("may only contain letters, digits")
    assert found["model"].startswith("must look like PROVIDER:NAME")
    ok = load_project(write(tmp_path, VALID + "owner: ada.l-1_x\nmodel: scripted:run.yaml\n"))
    assert (ok.owner, ok.model) == ("ada.l-1_x", "scripted:run.yaml")


def test_brief_values_must_be_plain_data_with_text_keys(tmp_path: Path) -> None:
    text = VALID.replace(
        "  features: [add habit, tick off]\n",
        "  features: [add habit, {3: three}, !!binary aGk=]\n  5: five\n",
    )
    found = by_field(problems(write(tmp_path, text)))
    assert found == {
        "idea_brief.features[1]": "key 3 must be text; put it in quotes",
        "idea_brief.features[2]": (
            "must be plain data (text, a number, true/false, a list or a mapping),"
            " got a bytes value"
        ),
        "idea_brief": "key 5 must be text; put it in quotes",
    }


def test_odd_brief_keys_are_quoted_in_paths(tmp_path: Path) -> None:
    text = VALID.replace("  launch: 2025-03-01\n", "  target users: {list: [!!binary aGk=]}\n")
    [problem] = problems(write(tmp_path, text))
    assert problem.field == 'idea_brief["target users"].list[0]'


def test_str_lists_every_problem_prefixed_with_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, "name: ''\ngoal: g\n")
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert str(info.value).splitlines() == [
        f"{path}: name: must not be empty",
        f"{path}: idea_brief: is required",
    ]


def test_file_level_problem_str(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert str(info.value) == f"{path}: no such file"


def test_spec_is_frozen(tmp_path: Path) -> None:
    spec = load_project(write(tmp_path, VALID))
    with pytest.raises(ValueError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
