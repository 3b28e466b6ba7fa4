"""What every `Sandbox` does, whichever backend runs it (see conftest: bwrap and the E2B fake).

Backend-only behaviour (namespaces, cgroups, egress; the E2B mirror, TTLs) is tested beside its
wing, in tests/integration/sandbox/local/ and .../e2b/.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.sandbox import Backend, BackgroundInfo, Sandbox, SandboxError, SandboxLimits
from fakes.e2b_cloud import pids_with

OpenBackend = Callable[..., Backend]  # the `open_backend` fixture (see conftest)


def token() -> str:
    return f"4747.{uuid.uuid4().int % 10**9}"  # a sleep length that names one test's processes


def wait_for(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def info_of(sb: Sandbox, process_id: str) -> BackgroundInfo:
    return next(p for p in sb.list_background() if p.id == process_id)


# --- exec -----------------------------------------------------------------------------------


def test_runs_in_the_workspace_both_ways(backend: Backend, ws: Path) -> None:
    (ws / "in.txt").write_text("from host\n")
    r = backend.sandbox.exec("cat in.txt; echo made > out.txt", timeout_s=30)
    assert (r.exit_code, r.stdout, r.timed_out, r.truncated) == (0, "from host\n", False, False)
    assert (ws / "out.txt").read_text() == "made\n"


def test_streams_are_kept_apart_with_the_exit_code(backend: Backend) -> None:
    r = backend.sandbox.exec("echo to-out; echo to-err >&2; exit 7", timeout_s=30)
    assert (r.exit_code, r.stdout, r.stderr) == (7, "to-out\n", "to-err\n")


def test_death_by_signal_reads_as_128_plus_signal(backend: Backend) -> None:
    assert backend.sandbox.exec("kill -TERM $$", timeout_s=30).exit_code == 128 + 15


def test_the_default_timeout_applies_when_none_is_given(open_backend: OpenBackend) -> None:
    sb = open_backend(SandboxLimits(default_timeout_s=1, max_timeout_s=600)).sandbox
    r = sb.exec("sleep 30")
    assert r.timed_out and r.exit_code == 124


def test_timeout_kills_the_whole_tree(backend: Backend) -> None:
    t1, t2 = token(), token()
    r = backend.sandbox.exec(f"sleep {t1} & echo before; sleep {t2}", timeout_s=1)
    assert r.timed_out and r.exit_code == 124
    assert r.stdout == "before\n"
    assert pids_with(t1) == [] and pids_with(t2) == []  # gone the moment exec returns


def test_a_longer_timeout_is_clamped_to_the_maximum(open_backend: OpenBackend) -> None:
    sb = open_backend(SandboxLimits(default_timeout_s=1, max_timeout_s=1)).sandbox
    assert sb.exec("sleep 30", timeout_s=500).timed_out


@pytest.mark.parametrize("timeout_s", [0, -1])
def test_a_non_positive_timeout_is_refused(backend: Backend, timeout_s: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        backend.sandbox.exec("true", timeout_s=timeout_s)


def test_long_output_keeps_head_and_tail(open_backend: OpenBackend) -> None:
    sb = open_backend(SandboxLimits(output_limit_bytes=4096)).sandbox
    r = sb.exec("seq 1 100000; echo small-err >&2", timeout_s=30)
    assert r.truncated and r.exit_code == 0
    assert r.stdout.startswith("1\n2\n3\n") and r.stdout.endswith("99999\n100000\n")
    assert "elided" in r.stdout and len(r.stdout) < 4096 + 200
    assert r.stderr == "small-err\n"
    assert r.stdout_cut is not None and r.stderr_cut is None


# --- background processes -------------------------------------------------------------------


def test_background_start_list_output_stop(backend: Backend) -> None:
    sb, t = backend.sandbox, token()
    info = sb.start_background(f"echo up; echo oops >&2; sleep {t}", name="server")
    assert (info.id, info.name, info.running) == ("p1", "server", True)
    wait_for(lambda: "oops" in sb.background_output("p1", max_bytes=1000))
    assert "up" in sb.background_output("p1", max_bytes=1000)
    assert [p.id for p in sb.list_background()] == ["p1"]
    stopped = sb.stop_background("p1")
    assert not stopped.running and not info_of(sb, "p1").running
    wait_for(lambda: pids_with(t) == [])


def test_a_process_that_exits_reports_its_code(backend: Backend) -> None:
    backend.sandbox.start_background("exit 3", name="quitter")
    wait_for(lambda: not info_of(backend.sandbox, "p1").running)
    assert info_of(backend.sandbox, "p1").exit_code == 3


def test_a_ninth_running_process_is_refused(backend: Backend) -> None:
    for i in range(8):
        backend.sandbox.start_background("sleep 600", name=f"s{i}")
    with pytest.raises(SandboxError, match="8 background processes"):
        backend.sandbox.start_background("sleep 600", name="one-too-many")


def test_an_unknown_id_is_a_key_error_naming_the_known_ones(backend: Backend) -> None:
    backend.sandbox.start_background("sleep 600", name="server")
    for call in (
        lambda: backend.sandbox.stop_background("p9"),
        lambda: backend.sandbox.background_output("p9", max_bytes=10),
    ):
        with pytest.raises(KeyError, match=r"p9.*known: p1"):
            call()


def test_exec_does_not_kill_background_processes(backend: Backend) -> None:
    t = token()
    backend.sandbox.start_background(f"sleep {t}", name="server")
    wait_for(lambda: bool(pids_with(t)))
    assert backend.sandbox.exec("true", timeout_s=30).exit_code == 0
    assert pids_with(t) and info_of(backend.sandbox, "p1").running


def test_close_kills_all_is_idempotent_and_then_refuses(backend: Backend) -> None:
    sb, t = backend.sandbox, token()
    for i in range(2):
        sb.start_background(f"sleep {t}", name=f"s{i}")
    wait_for(lambda: bool(pids_with(t)))
    sb.close()
    sb.close()
    wait_for(lambda: pids_with(t) == [])
    assert not any(p.running for p in sb.list_background())
    with pytest.raises(SandboxError, match="closed"):
        sb.exec("true", timeout_s=5)
    with pytest.raises(SandboxError, match="closed"):
        sb.start_background("true", name="late")
