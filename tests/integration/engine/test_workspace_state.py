"""The workspace state file's promise is about a folder that exists: an iteration whose
snapshot the store never got is trusted only while its workspace is still on this disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofounder.config import Settings
from cofounder.engine import workspace as workspace_state
from cofounder.engine.runtime import Runtime


def test_an_unsnapshotted_iteration_without_its_folder_is_unrecoverable(tmp_path: Path) -> None:
    rt = Runtime.open(Settings(home=tmp_path / "data"))
    try:
        state = workspace_state.WorkspaceState(kind="unsnapshotted", iteration=3)
        workspace_state.write_state(rt, "s1", state)
        workspace = rt.files("s1").workspace
        workspace.mkdir()
        at_3 = {"iteration": 3, "for_iteration": 4}
        missing = workspace_state.MISSING_SNAPSHOT
        workspace_state.ensure_at(rt, "s1", missing, **at_3)  # the folder *is* iteration 3
        # Gone (another machine, or the workspaces moved onto a volume): never "fine".
        workspace.rmdir()
        with pytest.raises(workspace_state.WorkspaceUnrecoverable, match="no stored snapshot"):
            workspace_state.ensure_at(rt, "s1", missing, **at_3)
    finally:
        rt.close()


def test_without_a_volume_image_the_workspace_stays_in_the_session_folder(
    tmp_path: Path,
) -> None:
    rt = Runtime.open(Settings(home=tmp_path / "data"))
    try:
        assert rt.volume_dir() is None
        assert rt.files("s1").workspace == tmp_path / "data" / "sessions" / "s1" / "workspace"
        assert rt.workspaces_root() == tmp_path / "data" / "sessions"
    finally:
        rt.close()
