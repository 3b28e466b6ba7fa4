"""Canonical spellings: trivially different ways of writing one command read the same."""

from __future__ import annotations

import pytest

from cofounder.agent.commands.head import command_head, describe
from cofounder.agent.commands.spelling import canonical_command
from cofounder.agent.healing.signature import action_key

SAME = [
    ("python3 x.py", "python x.py"),
    ("python3 ./x.py", "python x.py"),
    ("python3.11 ././x.py", "python x.py"),
    ("cd . && python3 x.py", "python x.py"),
    ("cd /workspace && python x.py", "python x.py"),
    ("cd /workspace/; cd . && python x.py", "python x.py"),
    ("cd .\npython x.py", "python x.py"),
    ("python   x.py  ;", "python x.py"),
    ("python x.py # try again", "python x.py"),
    ("pip3 install -r ./requirements.txt", "pip install -r requirements.txt"),
    ("ls \\\n  -la", "ls -la"),
    ("npm   test &&   pytest", "npm test && pytest"),
]

KEPT = [
    "cd app && python x.py",  # a real directory change
    "cd . || exit 1",  # not a scene-setter in front of a command
    "cd .",  # nothing after it
    "(cd . && ls)",  # inside a subshell
    "echo 'a   b;'",  # quoted text is verbatim
    "python ./-x.py",  # `-x.py` would read as an option
    "find . -name '*.pyc' -exec rm {} \\;",  # the escaped `;` belongs to find
    ".venv/bin/python3 x.py",  # a path to a specific interpreter
    "./run.sh",  # the program itself, not an argument
    "cat <<EOF\na   b\nEOF",  # heredoc text
    'ls "unterminated',  # a parse error: left as written
]


@pytest.mark.parametrize(("spelling", "canonical"), SAME)
def test_trivial_spellings_have_one_canonical_form(spelling: str, canonical: str) -> None:
    assert canonical_command(spelling) == canonical


@pytest.mark.parametrize("command", KEPT)
def test_meaningful_spelling_is_kept(command: str) -> None:
    assert canonical_command(command) == command


def test_spellings_share_head_label_and_action_key() -> None:
    spellings = ["python3 x.py", "python3 ./x.py", "cd . && python3 x.py", "python x.py;"]
    assert {command_head("bash", {"command": s}) for s in spellings} == {"bash:python x.py"}
    assert {describe("bash", {"command": s}) for s in spellings} == {"`python x.py`"}
    assert len({action_key("bash", {"command": s}) for s in spellings}) == 1
    assert action_key("bash", {"command": "python x.py"}) != action_key(
        "bash", {"command": "python y.py"}
    )
