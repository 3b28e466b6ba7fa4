"""A `COFOUNDER_*` variable that is no setting is ignored by the settings loader: the close
misses and the usual guesses are named with the setting they mean; other names are left alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cofounder.config import Settings
from cofounder.config_env import misspelt


def _found(**environ: str) -> list[tuple[str, str]]:
    return misspelt(environ, Settings.model_fields)


def test_close_misses_and_guesses_name_the_setting() -> None:
    assert _found(
        COFOUNDER_DATA_DIR="/srv",
        COFOUNDER_MAX_TOOLCALLS="5",
        COFOUNDER_OBJECTSTORE="s3://b",
        cofounder_db_url="postgresql://x",  # environment names are matched as typed, any case
    ) == [
        ("COFOUNDER_DATA_DIR", "COFOUNDER_HOME"),
        ("COFOUNDER_MAX_TOOLCALLS", "COFOUNDER_MAX_TOOL_CALLS"),
        ("COFOUNDER_OBJECTSTORE", "COFOUNDER_OBJECT_STORE"),
        ("cofounder_db_url", "COFOUNDER_DATABASE_URL"),
    ]


def test_settings_and_other_names_are_left_alone() -> None:
    assert (
        _found(
            COFOUNDER_HOME="/srv",
            COFOUNDER_MAX_TOOL_CALLS="5",
            COFOUNDER_LOG_LEVEL="INFO",
            COFOUNDER_USER="alice",
            COFOUNDER_TEST_POSTGRES_URL="postgresql://x",  # the test suite's own
            COFOUNDER_CRASH_AT="after_think",
            COFOUNDERS_HOME="x",  # another prefix
            PATH="/usr/bin",
        )
        == []
    )


def test_the_cli_warns_and_goes_on(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cofounder", "sessions", "--data-dir", str(tmp_path)],
        env={"COFOUNDER_DATA_DIR": "/elsewhere", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stderr
        == "warning: COFOUNDER_DATA_DIR is not a setting (did you mean COFOUNDER_HOME?)\n"
    )
