"""A worker serving others says when its workspaces are plain folders of the host's disk."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from cofounder.config import Settings
from cofounder.engine.worker.process import _warn_if_workspaces_show_host_paths


def _warnings(settings: Settings, on_volume: bool) -> list[str]:
    with capture_logs() as logs:
        _warn_if_workspaces_show_host_paths(settings, on_volume)
    return [entry["event"] for entry in logs if entry["log_level"] == "warning"]


def test_plain_folders_under_bubblewrap_are_named_with_the_setting_that_fixes_it(
    tmp_path: Path,
) -> None:
    with capture_logs() as logs:
        _warn_if_workspaces_show_host_paths(Settings(home=tmp_path), on_volume=False)
    assert [e["event"] for e in logs] == ["workspaces_on_host_filesystem"]
    assert "COFOUNDER_WORKSPACE_VOLUME_SIZE" in logs[0]["note"]


def test_a_volume_or_a_remote_sandbox_needs_no_warning(tmp_path: Path) -> None:
    assert _warnings(Settings(home=tmp_path), on_volume=True) == []
    assert _warnings(Settings(home=tmp_path, sandbox="e2b"), on_volume=False) == []
