"""run_supervised: a watch can stop a command, and env/cwd are replaced (plain processes)."""

from __future__ import annotations

import time

from cofounder.sandbox.local.runner import run_supervised


class StopAfter:
    def __init__(self, checks: int) -> None:
        self.left = checks
        self.calls = 0

    @property
    def interval_s(self) -> float:
        return 0.05

    def check(self) -> str | None:
        self.calls += 1
        self.left -= 1
        return "too big" if self.left <= 0 else None


def test_a_watch_stops_the_command_without_calling_it_a_timeout() -> None:
    watch = StopAfter(3)
    started = time.monotonic()
    out = run_supervised(["sleep", "30"], timeout_s=20, output_limit_bytes=4096, watch=watch)
    assert time.monotonic() - started < 5
    assert out.stopped_reason == "too big"
    assert not out.timed_out and out.exit_code == 128 + 9
    assert watch.calls == 3


def test_a_quiet_watch_changes_nothing() -> None:
    out = run_supervised(
        ["sh", "-c", "sleep 0.2; echo done"],
        timeout_s=20,
        output_limit_bytes=4096,
        watch=StopAfter(1000),
    )
    assert (out.exit_code, out.stdout.text, out.stopped_reason) == (0, "done\n", None)


def test_env_and_cwd_are_replaced() -> None:
    out = run_supervised(
        ["/usr/bin/env"], timeout_s=10, output_limit_bytes=4096, env={"ONLY": "1"}, cwd="/"
    )
    assert out.stdout.text == "ONLY=1\n"
