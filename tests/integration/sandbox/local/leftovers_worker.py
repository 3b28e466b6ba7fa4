"""A worker process for the leftovers test: many builds, then many sandbox runs, then a count.

Run as `python leftovers_worker.py BUILDS HOME`. It makes itself a child subreaper first, so
every process the product starts that is orphaned on the way (a defunct `[bwrap]`, a
daemon that escaped) is re-parented to it instead of the host's init, where it could not be
counted. At the end, with every engine and sandbox closed, it prints one JSON object: the
builds' outcomes and every process still parented to it (there should be none).
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
TESTS = Path(__file__).resolve().parents[3]


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def children() -> list[dict[str, Any]]:
    """Every process whose parent is this one: pid, name and state (Z = zombie)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == os.getpid():
            found.append({"pid": int(entry), "name": name, "state": state})
    return found


def _call(tool: str, **args: Any) -> dict[str, Any]:
    return {"name": tool, "input": args}


# One build, one iteration: a command leaving daemons behind and a background process that
# ends by itself; every tenth build also leaves a background process running and runs a
# preview, and the first looks at it in the browser (Playwright's driver and Chromium's
# helpers). Those cost a second or more each, hence not in every build.
def turns(index: int) -> list[dict[str, Any]]:
    calls = [
        _call("bash", command="echo hi > a.txt; sleep 30 & setsid sleep 30 &"),
        _call("bash", command="(sleep 30 &); echo quick", background=True, name="quick"),
    ]
    if index % 10 == 0:
        calls.append(_call("bash", command="sleep 30", background=True, name="sleeper"))
        calls.append(_call("preview", command="python3 -m http.server 8000", port=8000))
    steps: list[dict[str, Any]] = [{"tool_calls": calls}]
    if index == 0:
        steps.append({"tool_calls": [_call("take_screenshot")]})
    return [*steps, {"text": "Done."}]


def run_builds(count: int, home: Path) -> Counter[str]:
    sys.path.insert(0, str(TESTS))
    from cf_support import scripted_project
    from cofounder.config import Settings
    from cofounder.engine import Engine
    from cofounder.project import load_project

    outcomes: Counter[str] = Counter()
    engine = Engine(Settings(home=home / "home", database_url=None))
    try:
        for i in range(count):
            project = scripted_project(
                home / f"project-{i}", turns(i), name=f"Build {i}", owner=f"founder-{i}"
            )  # one owner each: a founder's daily cap is not what is tested here
            record = engine.create_session(load_project(project), project)
            outcomes[engine.run(record.id)] += 1
    finally:
        engine.close()
    return outcomes


def run_sandboxes(count: int, home: Path) -> None:
    """Sandboxes opened and closed: commands that end, time out, kill themselves or leave
    daemons, and background processes stopped or left running at close."""
    from cofounder.sandbox import BwrapSandbox

    for i in range(count):
        ws = home / f"ws-{i}"
        ws.mkdir()
        with BwrapSandbox(ws) as sb:
            sb.exec("true", timeout_s=30)
            sb.exec("sleep 30", timeout_s=0.2)
            sb.exec("kill -9 $$", timeout_s=30)
            sb.exec("setsid sleep 30 & (sleep 30 &); echo started", timeout_s=30)
            stopped = sb.start_background("sleep 30", name="stopped")
            sb.start_background("sleep 30", name="left running")
            sb.stop_background(stopped.id)


def main() -> None:
    become_subreaper()
    builds = int(sys.argv[1])
    home = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp())
    outcomes = run_builds(builds, home)
    run_sandboxes(max(1, builds // 5), home)
    print(json.dumps({"outcomes": dict(outcomes), "children": children()}))


if __name__ == "__main__":
    main()
