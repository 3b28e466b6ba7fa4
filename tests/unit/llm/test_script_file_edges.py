"""The scripted model's trajectory file: special files and oversized files are refused at once
(a blocking read of `/dev/zero` or a FIFO would hang `cofounder build` forever)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cofounder.llm import ModelError
from cofounder.llm.script import MAX_SCRIPT_BYTES, load_script


def refusal(path: Path) -> str:
    with pytest.raises(ModelError) as info:
        load_script(path)
    return str(info.value)


def test_devices_and_fifos_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "trajectory.yaml"
    os.mkfifo(fifo)
    assert refusal(fifo) == (
        f"scripted model: {fifo}: is a FIFO (named pipe), not a regular file; refusing to read it"
    )
    assert "is a character device" in refusal(Path("/dev/zero"))
    assert "is a directory, not a trajectory file" in refusal(tmp_path)


def test_an_oversized_trajectory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trajectory.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_SCRIPT_BYTES + 1)
    assert refusal(path).endswith(
        f"the file is too large ({MAX_SCRIPT_BYTES + 1} bytes; the limit is {MAX_SCRIPT_BYTES})"
    )


def test_pathological_yaml_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "trajectory.yaml"
    path.write_text("turns: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in refusal(path)
    path.write_text("turns:\n  - text: hi\n    usage: {input_tokens: " + "9" * 5000 + "}\n")
    assert "invalid YAML" in refusal(path)
