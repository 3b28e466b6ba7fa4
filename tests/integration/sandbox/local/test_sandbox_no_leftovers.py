"""No leftovers: after 100 builds on one worker process, no zombie and no orphan remains.

The builds run in a separate worker process (see leftovers_worker) that is a child subreaper,
so whatever the product orphans lands there to be counted rather than with the host's init,
which may or may not reap it (a worker that is a container's pid 1 never would). Each build
runs commands that leave daemons, a background process and a preview through the real
engine and sandbox; the first takes screenshots; then sandboxes are opened and closed with
timeouts, self-killing commands and background processes stopped or left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("leftovers_worker.py")
BUILDS = 100


@pytest.mark.timeout(900)
def test_no_zombie_or_orphan_after_100_builds_on_one_worker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFOUNDER_")}
    done = subprocess.run(
        [sys.executable, str(WORKER), str(BUILDS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=870,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {"completed": BUILDS}
    assert report["children"] == []
