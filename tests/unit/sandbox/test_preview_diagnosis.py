"""The preview's words for a failure, and the listener parsing both wings feed them with."""

from __future__ import annotations

from cofounder.sandbox.e2b.exposure import parse_listeners, parse_status, probe_command
from cofounder.sandbox.preview_diagnosis import (
    PROBE_TIMEOUT_S,
    diagnose,
    exit_hint,
    hex_to_address,
    proc_net_listeners,
)
from cofounder.sandbox.preview_types import Listener
from cofounder.sandbox.protocol import BackgroundInfo

PROC_TCP = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
    "   0: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000",
    "   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000",
    "   2: 0100007F:1435 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000",
    "   3: 0100007F:zz 00000000:0000 0A",
    "  sl  local_address                         remote_address                        st",
    "   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A",
    "   1: 0000000000000000FFFF00000100007F:2328 00000000000000000000000000000000:0000 0A",
]


def test_proc_net_lines_give_each_listener_once_by_port() -> None:
    """Headers, other states and malformed lines are skipped; a duplicate counts once."""
    assert proc_net_listeners(PROC_TCP) == [
        Listener("::", 3000),
        Listener("127.0.0.1", 5173),
        Listener("::ffff:127.0.0.1", 9000),
    ]
    assert parse_listeners("#proc\n" + "\n".join(PROC_TCP)) == proc_net_listeners(PROC_TCP)


def test_hex_addresses_as_proc_writes_them() -> None:
    assert hex_to_address("0100007F") == "127.0.0.1"
    assert hex_to_address("00000000000000000000000001000000") == "::1"
    assert hex_to_address("B80D0120000000000000000001000000") == "2001:db8:0:0:0:0:0:1"


def test_listeners_from_ss_output() -> None:
    out = (
        "#ss\n"
        "LISTEN 0 511 0.0.0.0:5173 0.0.0.0:*\n"
        "LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*\n"
        "LISTEN 0 511 [::]:3000 [::]:*\n"
        "LISTEN 0 511 *:8080 *:*\n"
        "LISTEN 0 128 [::ffff:127.0.0.1]:9000 *:*\n"
        "ESTAB 0 0 127.0.0.1:41000 127.0.0.1:5173\n"
        "LISTEN 0 511 nonsense\n"
    )
    assert parse_listeners(out) == [
        Listener("127.0.0.53", 53),
        Listener("::", 3000),
        Listener("0.0.0.0", 5173),
        Listener("0.0.0.0", 8080),
        Listener("::ffff:127.0.0.1", 9000),
    ]
    assert parse_listeners("") == [] and parse_listeners("#what\n0A") == []


def test_parse_status_rejects_non_statuses() -> None:
    assert [parse_status(s) for s in ("200", "000", "", "abc", "999", "302\n")] == [
        200,
        None,
        None,
        None,
        None,
        302,
    ]


def test_the_inside_probe_waits_as_long_as_the_diagnosis_says() -> None:
    command = probe_command(8000, "about")
    assert "http://127.0.0.1:8000/about" in command
    assert f"--max-time {PROBE_TIMEOUT_S:g} " in command
    assert f"timeout={PROBE_TIMEOUT_S:g})" in command
    assert f"within {PROBE_TIMEOUT_S:g} s" in diagnose([Listener("0.0.0.0", 8000)], 8000)


def test_diagnose_names_what_to_fix() -> None:
    assert diagnose([], 8000).startswith("nothing listens on port 8000;")
    both = [Listener("127.0.0.2", 8000), Listener("127.0.0.1", 8000)]
    assert diagnose(both, 8000).startswith("something listens on port 8000 ")
    assert "only on 127.0.0.2, 10.0.0.5" in diagnose(
        [Listener("127.0.0.2", 8000), Listener("10.0.0.5", 8000)], 8000
    )
    assert "listens on port(s) 3000, 5173" in diagnose(
        [Listener("::", 5173), Listener("0.0.0.0", 3000), Listener("::1", 3000)], 8000
    )


def test_exit_hint_with_and_without_an_exit_code() -> None:
    ended = BackgroundInfo(id="p1", name="preview", command="x", running=False, exit_code=3)
    assert exit_hint(ended, 8000).startswith("the command exited with code 3 before anything")
    gone = ended.model_copy(update={"exit_code": None})
    for info in (gone, None):
        assert "its exit code is unknown" in exit_hint(info, 8000)
