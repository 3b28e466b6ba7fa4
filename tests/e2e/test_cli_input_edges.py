"""Every input edge gets a precise refusal from the real CLI: exit 2, a message naming the file
and the field or key, no traceback, no hang, and nothing created on disk for refused input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cf_support import REPO

BOMB = """\
name: Bomb
goal: Explode.
idea_brief:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


def cli(
    workdir: Path, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """The CLI in `workdir` (where it looks for cofounder.toml), data dir `workdir/data`."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("COFOUNDER_") and k not in ("ANTHROPIC_API_KEY", "E2B_API_KEY")
    }
    base["COFOUNDER_HOME"] = str(workdir / "data")
    base["PYTHONPATH"] = str(REPO / "src")
    return subprocess.run(
        [sys.executable, "-m", "cofounder", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
    )


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    return result.stderr


def project(tmp_path: Path, body: str = "", name: str = "cofounder.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body or "name: Tiny\ngoal: Say hi.\nidea_brief: {what: greeting}\n")
    return path


def trajectory(tmp_path: Path) -> Path:
    path = tmp_path / "trajectory.yaml"
    path.write_text("turns:\n  - text: Done.\n")
    return path


def test_version_and_short_help(tmp_path: Path) -> None:
    version = cli(tmp_path, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "cofounder 0.1.0"
    for args in (("-h",), ("build", "-h")):
        shown = cli(tmp_path, *args)
        assert shown.returncode == 0, shown.stderr
        assert "Usage:" in shown.stdout
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("kind", ["device", "fifo", "bomb", "deep", "huge-int"])
def test_bad_project_files_are_refused_and_write_nothing(tmp_path: Path, kind: str) -> None:
    if kind == "device":
        path, expected = Path("/dev/zero"), "/dev/zero: is a character device"
    elif kind == "fifo":
        path = tmp_path / "cofounder.yaml"
        os.mkfifo(path)  # reading it would block until a writer appears
        expected = "cofounder.yaml: is a FIFO (named pipe), not a regular file"
    elif kind == "bomb":
        path, expected = project(tmp_path, BOMB), "cofounder.yaml: idea_brief: too much data"
    elif kind == "deep":
        body = "name: x\ngoal: y\nidea_brief:\n  a: " + "[" * 250 + "]" * 250 + "\n"
        path, expected = project(tmp_path, body), "idea_brief: nested deeper than 20 levels"
    else:
        body = "name: x\ngoal: y\nidea_brief:\n  a: " + "9" * 5000 + "\n"
        path, expected = project(tmp_path, body), "idea_brief.a: the number 9999"
    refused(cli(tmp_path, "build", str(path)), expected)
    assert not (tmp_path / "data").exists()


def test_scripted_model_on_a_device_is_refused(tmp_path: Path) -> None:
    path = project(tmp_path, 'name: x\ngoal: y\nidea_brief: {a: b}\nmodel: "scripted:/dev/zero"\n')
    refused(cli(tmp_path, "build", str(path)), "scripted model: /dev/zero: is a character device")
    assert not (tmp_path / "data").exists()


def test_a_summarizer_without_a_key_is_refused_at_start(tmp_path: Path) -> None:
    coder = trajectory(tmp_path).resolve()
    (tmp_path / "cofounder.toml").write_text(
        f'[tiers.bootstrapper]\ncoder = "scripted:{coder}"\n'
        'summarizer = "anthropic:claude-haiku-4-5"\n'
    )
    refused(
        cli(tmp_path, "build", str(project(tmp_path))),
        "ANTHROPIC_API_KEY",
        "summarizer model anthropic:claude-haiku-4-5",
    )
    assert not (tmp_path / "data").exists()


def test_e2b_without_a_key_is_refused_at_start(tmp_path: Path) -> None:
    path = project(
        tmp_path,
        f"name: x\ngoal: y\nidea_brief: {{a: b}}\nmodel: scripted:{trajectory(tmp_path)}\n",
    )
    refused(cli(tmp_path, "build", str(path), COFOUNDER_SANDBOX="e2b"), "E2B_API_KEY")
    assert not (tmp_path / "data").exists()


def test_settings_errors_name_their_source(tmp_path: Path) -> None:
    refused(
        cli(tmp_path, "sessions", COFOUNDER_MAX_TOOL_CALLS=str(2**64)),
        "COFOUNDER_MAX_TOOL_CALLS: Input should be less than or equal to",
    )
    refused(
        cli(tmp_path, "sessions", COFOUNDER_DATABASE_URL="mysql://u@localhost/db"),
        "COFOUNDER_DATABASE_URL: unsupported database 'mysql'",
    )
    toml = tmp_path / "cofounder.toml"
    toml.write_text(f'budget_window_seconds = {2**63}\n[prices."openai:x"]\ninput = "a"\n')
    message = refused(
        cli(tmp_path, "sessions"),
        "cofounder.toml: budget_window_seconds: Input should be less than or equal to",
        'cofounder.toml: prices."openai:x".input:',
    )
    assert "COFOUNDER_BUDGET_WINDOW_SECONDS" not in message
    toml.write_text("max_tokens = = 3\n")
    refused(cli(tmp_path, "sessions"), "cofounder.toml: invalid TOML: Invalid value (at line 1")
    assert not (tmp_path / "data").exists()


def test_cli_numbers_past_their_range_are_usage_errors(tmp_path: Path) -> None:
    path = project(tmp_path)
    refused(cli(tmp_path, "build", str(path), "--max-tool-calls", str(2**64)), "--max-tool-calls")
    refused(cli(tmp_path, "events", "abc", "--after", str(2**64)), "--after")
    assert not (tmp_path / "data").exists()


def test_a_data_dir_with_url_characters_keeps_its_databases_inside(tmp_path: Path) -> None:
    data = tmp_path / "odd?name#x%41"
    listed = cli(tmp_path, "sessions", "--data-dir", str(data))
    assert listed.returncode == 0, listed.stderr
    assert (data / "cofounder.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd?name#x%41"]


def test_empty_id_prefix_and_misspelt_owner_are_refused(tmp_path: Path) -> None:
    refused(cli(tmp_path, "status", ""), "an empty session id names no session")
    refused(
        cli(tmp_path, "budget", "top-up", "alcie", "5"),
        "no session or setting names owner 'alcie'",
        "--new-owner",
    )
    done = cli(tmp_path, "budget", "top-up", "alcie", "5", "--new-owner", "--json")
    assert done.returncode == 0, done.stderr
