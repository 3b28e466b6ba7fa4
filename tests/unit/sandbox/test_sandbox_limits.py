"""SandboxLimits: sane defaults and refusal of nonsense."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cofounder.sandbox import SandboxLimits


def test_defaults_leave_room_for_node_and_cap_output() -> None:
    lim = SandboxLimits()
    assert lim.address_space_bytes >= 4 * 1024**3
    assert lim.output_limit_bytes == 64 * 1024
    assert lim.default_timeout_s <= lim.max_timeout_s


def test_limits_are_frozen() -> None:
    lim = SandboxLimits()
    with pytest.raises(ValidationError):
        lim.cpu_seconds = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cpu_seconds", 0),
        ("address_space_bytes", 1024),
        ("output_limit_bytes", 10),
        ("memory_bytes", 1024),
        ("max_processes", 2),
        ("workspace_bytes", 0),
        ("workspace_files", 1),
    ],
)
def test_nonsense_values_are_refused_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(ValidationError, match=field):
        SandboxLimits(**{field: value})


def test_default_timeout_above_max_is_refused() -> None:
    with pytest.raises(ValidationError, match="default_timeout_s"):
        SandboxLimits(default_timeout_s=700, max_timeout_s=600)


def test_whole_sandbox_defaults_fit_a_node_build() -> None:
    lim = SandboxLimits()
    assert lim.memory_bytes == 4 * 1024**3
    assert lim.max_processes >= 512
    assert lim.workspace_bytes >= 2 * 1024**3
    assert lim.shm_size_bytes < lim.tmp_size_bytes
