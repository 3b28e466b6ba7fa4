"""The per-session network mode: chosen in the project file or with `--network`, stored on the
session, shown in status, told to the agent, and used for every command's sandbox."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from cf_support import Backend, session_id_from


def _project(tmp_path: Path, **extra: str) -> Path:
    turns = [
        {
            "tool_calls": [
                {"name": "bash", "input": {"command": "cat /etc/resolv.conf; ip -o link"}}
            ]
        },
        {"text": "done"},
    ]
    (tmp_path / "trajectory.yaml").write_text(yaml.safe_dump({"turns": turns}))
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "Net",
                "goal": "look at the network",
                "idea_brief": {"what": "network"},
                "understanding_qna": [],
                "model": "scripted:trajectory.yaml",
                **extra,
            }
        )
    )
    return path


def _status(backend: Backend, session_id: str) -> dict[str, object]:
    return dict(json.loads(backend.cli("status", session_id, "--json").stdout))


def test_the_default_is_no_network_and_status_says_so(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    result = sqlite_backend.cli("build", str(_project(tmp_path)))
    assert result.returncode == 0, result.stderr
    status = _status(sqlite_backend, session_id_from(result.stdout))
    assert status["network"] == "none" and "rlimits" in str(status["sandbox_limits"])


@pytest.mark.skipif(shutil.which("pasta") is None, reason="pasta (Debian passt) is not installed")
def test_egress_from_the_flag_beats_the_project_file(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = _project(tmp_path, network="none")
    result = sqlite_backend.cli("build", str(project), "--network", "egress")
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    assert _status(sqlite_backend, session_id)["network"] == "egress"
    events = sqlite_backend.cli("events", session_id, "--json").stdout.splitlines()
    started = json.loads(events[0])
    assert started["type"] == "session_started" and started["payload"]["network"] == "egress"


def test_a_bad_network_mode_is_refused(sqlite_backend: Backend, tmp_path: Path) -> None:
    flag = sqlite_backend.cli("build", str(_project(tmp_path)), "--network", "everywhere")
    assert flag.returncode == 2 and "--network must be none or egress" in flag.stderr
    spec = sqlite_backend.cli("build", str(_project(tmp_path, network="open")))
    assert spec.returncode == 2 and "network" in spec.stderr
