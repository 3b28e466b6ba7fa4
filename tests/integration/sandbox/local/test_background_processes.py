"""Background processes of BwrapSandbox against the real bubblewrap: the shared network
namespace, exit codes, output caps, the process limit and that nothing outlives a stop, a
close or the worker itself.

Processes are found on the host by a unique marker in their command line, since other tests
run in parallel; zombies have an empty command line and so never match.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from cofounder.sandbox import BackgroundInfo, BwrapSandbox, SandboxError, bwrap_available
from cofounder.sandbox.local.background import LOG_CAP_BYTES
from cofounder.sandbox.processes import MAX_BACKGROUND

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not usable here")

_CHUNK = 65536  # what the log pump reads at once
SLEEPER = "python3 -c 'import time; time.sleep(1000)'"  # a sleep whose argv can carry a marker


@pytest.fixture
def shared(sandbox: BwrapSandbox) -> BwrapSandbox:
    """A sandbox whose commands share one network namespace (needs root and iproute2)."""
    if sandbox.netns_path is None or sandbox.network_holder_pid is None:
        pytest.skip("a sandbox-wide network needs root, unshare, nsenter and ip")
    return sandbox


def marker() -> str:
    return f"cfbg-{uuid.uuid4().hex[:12]}"


def host_cmdlines(token: str) -> dict[int, str]:
    """Host processes (not this one) whose command line contains `token`."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if token in cmdline:
            found[int(entry)] = cmdline
    return found


def sleepers(token: str) -> list[int]:
    """The python sleepers (not bwrap or bash, whose argv also holds the marker)."""
    return [pid for pid, cmd in host_cmdlines(token).items() if cmd.startswith("python3 ")]


def proc_state(pid: int) -> str | None:
    """R, S, Z, ... from /proc/PID/stat, or None when the pid is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw.rsplit(b")", 1)[-1].split()[0].decode()


def wait_for(check: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    """Poll until `check` holds; the timeout only bounds a wait for what must come."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def info_of(sb: BwrapSandbox, process_id: str) -> BackgroundInfo:
    return next(p for p in sb.list_background() if p.id == process_id)


# --- the shared namespace -----------------------------------------------------------------


def test_background_server_answers_a_later_exec(shared: BwrapSandbox) -> None:
    command = "python3 -m http.server 8000 --bind 127.0.0.1"
    info = shared.start_background(command, name="web")
    assert (info.id, info.name, info.command, info.running) == ("p1", "web", command, True)
    probe = textwrap.dedent(
        """\
        import time, urllib.request
        deadline = time.monotonic() + 60  # however slowly the server starts
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:8000/", timeout=30) as r:
                    print("status", r.status)
                    break
            except OSError:
                if time.monotonic() > deadline:
                    print("never answered")
                    break
                time.sleep(0.05)
        """
    )
    (shared.workspace / "probe.py").write_text(probe)
    r = shared.exec("python3 probe.py", timeout_s=120)
    assert r.stdout.strip() == "status 200", (r.stdout, r.stderr)
    [listed] = shared.list_background()
    assert (listed.id, listed.name, listed.running, listed.exit_code) == ("p1", "web", True, None)
    wait_for(
        lambda: '"GET / HTTP/1.1" 200' in shared.background_output("p1", max_bytes=4000),
        what="the request in the server's log",
    )
    assert info_of(shared, "p1").log_bytes > 0


def test_background_process_cannot_reach_host_loopback(shared: BwrapSandbox) -> None:
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    host.setblocking(False)
    port = host.getsockname()[1]
    try:
        attempt = (
            'python3 -c "import socket\n'
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2); print('CONNECTED')\n"
            "except OSError as e:\n"
            "    print('FAILED', e)\""
        )
        shared.start_background(attempt, name="escape")
        wait_for(lambda: not info_of(shared, "p1").running, what="the attempt to end")
        out = shared.background_output("p1", max_bytes=2000)
        assert "FAILED" in out and "CONNECTED" not in out, out
        r = shared.exec(attempt, timeout_s=30)
        assert "FAILED" in r.stdout and "CONNECTED" not in r.stdout, (r.stdout, r.stderr)
        with pytest.raises(BlockingIOError):
            host.accept()  # nothing ever arrived on the host side
        r = shared.exec("tail -n +3 /proc/net/dev | cut -d: -f1", timeout_s=30)
        assert [x.strip() for x in r.stdout.splitlines()] == ["lo"]
    finally:
        host.close()


# --- exit codes and output ----------------------------------------------------------------


def test_process_that_exits_by_itself_reports_its_code(sandbox: BwrapSandbox) -> None:
    info = sandbox.start_background("echo hi; exit 3", name="short")
    wait_for(lambda: not info_of(sandbox, info.id).running, what="the process to exit")
    ended = info_of(sandbox, info.id)
    assert (ended.running, ended.exit_code) == (False, 3)
    assert sandbox.background_output(info.id, max_bytes=1000) == "hi\n"
    assert ended.log_bytes == 3
    # stopping one that already ended is harmless and keeps its exit code
    assert sandbox.stop_background(info.id).exit_code == 3


def test_stderr_is_kept_with_stdout(sandbox: BwrapSandbox) -> None:
    info = sandbox.start_background("echo out; echo err >&2; exit 0", name="both")
    wait_for(lambda: not info_of(sandbox, info.id).running, what="the process to exit")
    assert sandbox.background_output(info.id, max_bytes=1000) == "out\nerr\n"
    assert info_of(sandbox, info.id).exit_code == 0


def test_endless_output_is_capped_on_disk_and_never_blocks(ws: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    mark = marker()
    with BwrapSandbox(ws, log_dir=logs) as sb:
        info = sb.start_background(f"yes {mark}", name="flood")
        wait_for(
            lambda: info_of(sb, info.id).log_bytes > 3 * LOG_CAP_BYTES, what="the log to rotate"
        )
        time.sleep(0.5)
        on_disk = sum(p.stat().st_size for p in logs.iterdir())
        assert on_disk <= 2 * LOG_CAP_BYTES + _CHUNK
        first = info_of(sb, info.id)
        # still writing: more comes (polled, since a loaded machine may pause it a while)
        wait_for(lambda: info_of(sb, info.id).log_bytes > first.log_bytes, what="more output")
        assert info_of(sb, info.id).running
        tail = sb.background_output(info.id, max_bytes=1000)
        assert 0 < len(tail.encode()) <= 1000
        *whole, last = tail.split("\n")
        assert whole and all(line == mark for line in whole), tail[:200]
        assert mark.startswith(last)  # the newest line may be cut mid-way
        stopped = sb.stop_background(info.id)
        assert not stopped.running
        # once stopped nothing rotates (mid-rotation the current file is briefly missing)
        assert sorted(p.name for p in logs.iterdir()) == [f"{info.id}.log", f"{info.id}.log.1"]
        assert sum(p.stat().st_size for p in logs.iterdir()) <= 2 * LOG_CAP_BYTES + _CHUNK
        assert stopped.log_bytes > 3 * LOG_CAP_BYTES
    assert logs.is_dir()  # a log dir the caller gave is the caller's to remove


# --- stopping -----------------------------------------------------------------------------


def test_stop_kills_the_whole_tree(sandbox: BwrapSandbox) -> None:
    mark = marker()
    command = f"{SLEEPER} {mark}-a & setsid {SLEEPER} {mark}-b & wait"
    info = sandbox.start_background(command, name="tree")
    wait_for(lambda: len(sleepers(mark)) == 2, what="both grandchildren to start")
    stopped = sandbox.stop_background(info.id)
    assert not stopped.running and stopped.exit_code is not None
    assert host_cmdlines(mark) == {}  # bwrap, bash and both sleepers, at once
    assert not info_of(sandbox, info.id).running


def test_unknown_id_is_a_key_error_listing_the_known_ones(sandbox: BwrapSandbox) -> None:
    with pytest.raises(KeyError, match=r"known: none"):
        sandbox.stop_background("p1")
    sandbox.start_background("sleep 1000", name="a")
    sandbox.start_background("sleep 1000", name="b")
    with pytest.raises(KeyError, match=r"'p7'.*known: p1, p2"):
        sandbox.stop_background("p7")
    with pytest.raises(KeyError, match=r"known: p1, p2"):
        sandbox.background_output("p7", max_bytes=100)


def test_close_kills_every_background_process(ws: Path) -> None:
    mark = marker()
    sb = BwrapSandbox(ws)
    holder = sb.network_holder_pid
    try:
        for i in range(3):
            sb.start_background(f"{SLEEPER} {mark}-{i}", name=f"s{i}")
        wait_for(lambda: len(sleepers(mark)) == 3, what="three sleepers")
    finally:
        sb.close()
    assert host_cmdlines(mark) == {}
    assert [p.running for p in sb.list_background()] == [False, False, False]
    with pytest.raises(SandboxError, match="closed"):
        sb.start_background("true", name="late")
    with pytest.raises(SandboxError, match="closed"):
        sb.exec("true", timeout_s=5)
    if holder is not None:
        assert proc_state(holder) in (None, "Z", "X")
    sb.close()  # again: harmless


def test_exec_neither_kills_nor_sees_background_processes(sandbox: BwrapSandbox) -> None:
    mark = marker()
    info = sandbox.start_background(f"exec -a {mark} sleep 1000", name="bystander")
    wait_for(lambda: any(c.startswith(mark) for c in host_cmdlines(mark).values()), what="sleep")
    host_pids = sorted(host_cmdlines(mark))
    # `kill -1` signals every process the sandbox user may; run in every exec
    r = sandbox.exec("sleep 100 & kill -KILL -1; wait $!; echo rc=$?", timeout_s=30)
    assert r.stdout.strip() == "rc=137", (r.stdout, r.stderr)  # it kills within its exec
    r = sandbox.exec(
        "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done", timeout_s=30
    )
    assert r.exit_code == 0 and mark not in r.stdout
    big = [p for p in host_pids if p > 100]  # small numbers may exist inside the namespace
    r = sandbox.exec(" ; ".join(f"kill -KILL {p}" for p in big) + "; true", timeout_s=30)
    assert r.stderr.count("No such process") == len(big), r.stderr
    for _ in range(3):
        assert sandbox.exec("true", timeout_s=30).exit_code == 0
    still = info_of(sandbox, info.id)
    assert still.running and still.exit_code is None
    assert sorted(host_cmdlines(mark)) == host_pids


# --- limits -------------------------------------------------------------------------------


def test_ninth_running_process_is_refused(sandbox: BwrapSandbox) -> None:
    assert MAX_BACKGROUND == 8
    ids = [sandbox.start_background("sleep 1000", name=f"s{i}").id for i in range(8)]
    assert ids == [f"p{i}" for i in range(1, 9)]
    with pytest.raises(SandboxError, match=r"8 background processes are already running") as err:
        sandbox.start_background("sleep 1000", name="ninth")
    assert "p1" in str(err.value) and "p8" in str(err.value)
    assert sum(p.running for p in sandbox.list_background()) == 8
    sandbox.stop_background("p3")  # only running ones count
    assert sandbox.start_background("sleep 1000", name="ninth").running
    assert sum(p.running for p in sandbox.list_background()) == 8


# --- the worker dies ----------------------------------------------------------------------

_WORKER = """
import os, sys, time
from pathlib import Path
from cofounder.sandbox import BwrapSandbox

ws = Path(sys.argv[1])
sb = BwrapSandbox(ws, log_dir=Path(sys.argv[2]))
sb.start_background(
    "touch started; exec python3 -c 'import time; time.sleep(1000)' " + os.environ["CF_MARK"],
    name="orphan",
)
deadline = time.monotonic() + 60
while not (ws / "started").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print(sb.network_holder_pid, flush=True)
print("ready", flush=True)
time.sleep(1000)
"""


def test_sigkilled_worker_takes_its_background_processes_along(ws: Path, tmp_path: Path) -> None:
    mark = marker()  # passed in the environment, so the worker's own argv does not hold it
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(ws), str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CF_MARK": mark},
    )
    try:
        assert worker.stdout is not None
        holder_line = worker.stdout.readline().strip()
        assert worker.stdout.readline().strip() == "ready"
        wait_for(lambda: len(sleepers(mark)) == 1, what="the sleeper to start")
    finally:
        worker.kill()
        worker.wait()
    wait_for(lambda: host_cmdlines(mark) == {}, what="the sandbox to die")
    if holder_line != "None":
        wait_for(
            lambda: proc_state(int(holder_line)) in (None, "Z", "X"),
            what="the network holder to exit",
        )


def test_a_process_outlives_the_thread_that_started_it(sandbox: BwrapSandbox) -> None:
    """--die-with-parent follows the forking *thread*; a pooled thread must not take the app
    down when it exits (engine steps run in such threads)."""
    started: list[BackgroundInfo] = []
    thread = threading.Thread(
        target=lambda: started.append(sandbox.start_background("sleep 1000", name="pooled"))
    )
    thread.start()
    thread.join()
    time.sleep(0.5)
    assert info_of(sandbox, started[0].id).running


def test_the_limit_holds_for_simultaneous_starts(sandbox: BwrapSandbox) -> None:
    barrier = threading.Barrier(MAX_BACKGROUND + 4)
    outcomes: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            sandbox.start_background("sleep 1000", name="racer")
            outcomes.append("started")
        except SandboxError:
            outcomes.append("refused")

    threads = [threading.Thread(target=start) for _ in range(MAX_BACKGROUND + 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("started") == MAX_BACKGROUND
    assert sum(p.running for p in sandbox.list_background()) == MAX_BACKGROUND
