"""Bounded project files: aliases, nesting, numbers, text and special files are refused by field,
never a traceback, a hang or a multi-gigabyte expansion."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cofounder.project import FieldProblem, ProjectError, load_project, spec_from_data
from cofounder.project.bounds import MAX_DEPTH

HEAD = "name: X\ngoal: Y\n"


def write(tmp_path: Path, text: str, name: str = "cofounder.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def problems(path: Path) -> list[FieldProblem]:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    return info.value.problems


def nested(levels: int) -> str:
    """idea_brief holding lists nested so that the document is `levels` collections deep."""
    inner = levels - 2  # the top-level mapping and idea_brief itself
    return HEAD + "idea_brief:\n  a: " + "[" * inner + "1" + "]" * inner + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ['  a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"  a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    [problem] = problems(write(tmp_path, HEAD + "idea_brief:\n" + "\n".join(lines) + "\n"))
    assert problem.field == "idea_brief"
    assert problem.problem.startswith("too much data: more than 100000 values")


def test_a_merge_key_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["m0: &m0 {" + ", ".join(f"k{i}: v" for i in range(10)) + "}"]
    for level in range(1, 8):
        merged = ", ".join([f"*m{level - 1}"] * 10)
        lines.append(f"m{level}: &m{level} {{<<: [{merged}], own{level}: x}}")
    text = HEAD + "idea_brief: {a: 1}\n" + "\n".join(lines) + "\n"
    [problem] = problems(write(tmp_path, text))
    assert problem.problem.startswith("too much data")


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    [problem] = problems(write(tmp_path, HEAD + "idea_brief: &loop {self: *loop}\n"))
    assert problem.field == "idea_brief"
    assert "alias refers to a collection that contains it" in problem.problem


def test_shared_aliases_within_the_limits_still_load(tmp_path: Path) -> None:
    text = HEAD + "idea_brief:\n  base: &b {x: 1}\n  copy: *b\n"
    assert load_project(write(tmp_path, text)).idea_brief["copy"] == {"x": 1}


def test_nesting_is_capped_at_max_depth(tmp_path: Path) -> None:
    assert load_project(write(tmp_path, nested(MAX_DEPTH))).idea_brief
    for levels in (MAX_DEPTH + 1, 250, 5000):
        [problem] = problems(write(tmp_path, nested(levels)))
        assert problem.field == "idea_brief"
        assert problem.problem.startswith(f"nested deeper than {MAX_DEPTH} levels (at line 4")


def test_deep_json_is_refused(tmp_path: Path) -> None:
    body = {"name": "X", "goal": "Y", "idea_brief": {"a": 1}}
    text = json.dumps(body).replace('"a": 1', '"a": ' + "[" * 100_000 + "]" * 100_000)
    [problem] = problems(write(tmp_path, text, "p.json"))
    assert problem.problem.startswith("nested deeper than")


def test_deep_data_from_an_api_payload_is_refused_by_field() -> None:
    value: object = 1
    for _ in range(30):
        value = [value]
    with pytest.raises(ProjectError) as info:
        spec_from_data({"name": "X", "goal": "Y", "idea_brief": {"a": value}}, path=Path("api"))
    assert info.value.problems == [FieldProblem("idea_brief", "nested deeper than 20 levels")]


@pytest.mark.parametrize("name", ["cofounder.yaml", "p.json"])
@pytest.mark.parametrize("number", ["9" * 5000, str(2**63), str(-(2**63) - 1), "0x" + "f" * 17])
def test_numbers_past_64_bits_are_refused_by_field(tmp_path: Path, name: str, number: str) -> None:
    if name == "p.json" and number.startswith("0x"):
        return  # not JSON
    text = (
        HEAD + f"idea_brief:\n  budget: {number}\n"
        if name.endswith("yaml")
        else f'{{"name": "X", "goal": "Y", "idea_brief": {{"budget": {number}}}}}'
    )
    [problem] = problems(write(tmp_path, text, name))
    assert problem.field == "idea_brief.budget"
    assert "too large; numbers must lie between -9223372036854775808 and" in problem.problem


def test_the_largest_64_bit_number_loads(tmp_path: Path) -> None:
    text = HEAD + f"idea_brief:\n  n: {2**63 - 1}\n  m: {-(2**63)}\n"
    assert load_project(write(tmp_path, text)).idea_brief == {"n": 2**63 - 1, "m": -(2**63)}


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1.0e+400"])
def test_non_finite_numbers_are_refused(tmp_path: Path, value: str) -> None:
    [problem] = problems(write(tmp_path, HEAD + f"idea_brief:\n  x: {value}\n"))
    assert problem.field == "idea_brief.x"
    assert problem.problem.startswith("must be a finite number")


def test_text_that_cannot_be_stored_is_refused(tmp_path: Path) -> None:
    text = HEAD + 'idea_brief:\n  nul: "a\\0b"\n  "\\ud800": lone\n'
    found = problems(write(tmp_path, text))
    assert (
        FieldProblem(
            "idea_brief.nul", "the value contains a NUL character (\\0), which cannot be stored"
        )
        in found
    )
    assert any("lone surrogate" in p.problem and "U+D800" in p.problem for p in found)


@pytest.mark.parametrize("tagged", ["!!int abc", "!!float x", "!!timestamp nope"])
def test_explicit_tags_on_wrong_values_are_syntax_errors(tmp_path: Path, tagged: str) -> None:
    [problem] = problems(write(tmp_path, HEAD + f"idea_brief:\n  x: {tagged}\n"))
    assert problem.field == ""
    assert problem.problem.startswith("invalid YAML at line 4")


def test_special_files_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "cofounder.yaml"
    os.mkfifo(fifo)  # a blocking read would wait for a writer forever
    assert problems(fifo) == [
        FieldProblem("", "is a FIFO (named pipe), not a regular file; refusing to read it")
    ]
    assert problems(Path("/dev/zero")) == [
        FieldProblem("", "is a character device, not a regular file; refusing to read it")
    ]


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "cofounder.yaml"
    with path.open("wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: 5 GiB that would take minutes to read
    [problem] = problems(path)
    assert problem.problem == (
        f"the file is too large ({5 * 1024**3} bytes; the limit is {1024 * 1024})"
    )
