"""cgroup detection and per-sandbox groups, against fake cgroup trees (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofounder.sandbox.local import cgroups
from cofounder.sandbox.local.cgroups import CgroupUnavailable, SandboxCgroup


def fake_proc(tmp: Path, mountinfo: str, cgroup: str) -> Path:
    proc = tmp / "proc-self"
    proc.mkdir()
    (proc / "mountinfo").write_text(mountinfo)
    (proc / "cgroup").write_text(cgroup)
    return proc


def v1_host(tmp: Path) -> Path:
    """The hybrid layout of this project's machines: memory and pids on v1, a bare unified."""
    mem, pids, unified = tmp / "memory", tmp / "pids", tmp / "unified"
    (mem / "process_api" / "abc").mkdir(parents=True)
    pids.mkdir()
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("hugetlb\n")
    mountinfo = (
        f"30 25 0:26 / {mem} rw,relatime shared:9 - cgroup cgroup rw,memory\n"
        f"31 25 0:27 / {pids} rw,relatime shared:10 - cgroup cgroup rw,pids\n"
        f"32 25 0:28 / {unified} rw,relatime shared:11 - cgroup2 cgroup2 rw\n"
        "33 25 0:29 / /proc rw - proc proc rw\n"
    )
    return fake_proc(tmp, mountinfo, "8:pids:/\n4:memory:/process_api/abc\n0::/\n")


def v2_host(tmp: Path) -> Path:
    root = tmp / "cg2"
    (root / "svc").mkdir(parents=True)
    (root / "svc" / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "svc" / "cgroup.subtree_control").write_text("cpu\n")
    mountinfo = f"40 25 0:30 / {root} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    return fake_proc(tmp, mountinfo, "0::/svc\n")


def test_detects_v1_controllers_under_our_own_groups(tmp_path: Path) -> None:
    support = cgroups.detect(v1_host(tmp_path))
    assert support.version == "v1"
    assert support.controllers == ("memory", "pids")
    assert support.bases["memory"] == tmp_path / "memory" / "process_api" / "abc"
    assert support.bases["pids"] == tmp_path / "pids"


def test_v1_group_gets_limits_and_one_procs_file_per_hierarchy(tmp_path: Path) -> None:
    support = cgroups.detect(v1_host(tmp_path))
    group = SandboxCgroup.create(support, memory_bytes=256 * 2**20, max_processes=64)
    mem, pids = group.dirs["memory"], group.dirs["pids"]
    assert mem.name.startswith(cgroups.GROUP_PREFIX) and mem.name == pids.name
    assert (mem / "memory.limit_in_bytes").read_text() == str(256 * 2**20)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(256 * 2**20)
    assert (pids / "pids.max").read_text() == "64"
    assert sorted(group.procs_files) == sorted([mem / "cgroup.procs", pids / "cgroup.procs"])


def test_v1_counters_read_oom_kills_and_refused_forks(tmp_path: Path) -> None:
    group = SandboxCgroup.create(
        cgroups.detect(v1_host(tmp_path)), memory_bytes=2**30, max_processes=64
    )
    (group.dirs["memory"] / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    (group.dirs["pids"] / "pids.events").write_text("max 17\n")
    assert group.counters() == cgroups.CgroupCounters(oom_kills=2, pids_refused=17)


def test_detects_v2_and_delegates_controllers(tmp_path: Path) -> None:
    support = cgroups.detect(v2_host(tmp_path))
    assert support.version == "v2" and support.controllers == ("memory", "pids")
    group = SandboxCgroup.create(support, memory_bytes=2**30, max_processes=100)
    base = tmp_path / "cg2" / "svc"
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert group.dirs["memory"] == group.dirs["pids"]
    assert (group.dirs["memory"] / "memory.max").read_text() == str(2**30)
    assert (group.dirs["pids"] / "pids.max").read_text() == "100"
    assert group.procs_files == [group.dirs["pids"] / "cgroup.procs"]
    (group.dirs["memory"] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.counters().oom_kills == 1


def test_no_cgroup_mounts_means_rlimits_only(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, "33 25 0:29 / /proc rw - proc proc rw\n", "0::/\n")
    support = cgroups.detect(proc)
    assert support.version is None and "no writable cgroup" in support.reason
    with pytest.raises(CgroupUnavailable, match="no writable cgroup"):
        SandboxCgroup.create(support, memory_bytes=2**30, max_processes=64)


def test_unreadable_proc_is_reported_not_raised(tmp_path: Path) -> None:
    support = cgroups.detect(tmp_path / "missing")
    assert support.version is None and "cannot read cgroup information" in support.reason


def test_partial_controllers_are_named(tmp_path: Path) -> None:
    mem = tmp_path / "memory"
    mem.mkdir()
    proc = fake_proc(
        tmp_path, f"30 25 0:26 / {mem} rw - cgroup cgroup rw,memory\n", "4:memory:/\n0::/\n"
    )
    support = cgroups.detect(proc)
    assert support.controllers == ("memory",)
    assert "not available: pids" in support.reason


def test_mount_points_with_spaces_are_unescaped(tmp_path: Path) -> None:
    mem = tmp_path / "my cgroups"
    mem.mkdir()
    escaped = str(mem).replace(" ", "\\040")
    proc = fake_proc(
        tmp_path, f"30 25 0:26 / {escaped} rw - cgroup cgroup rw,memory\n", "4:memory:/\n"
    )
    assert cgroups.detect(proc).bases["memory"] == mem


def test_stale_groups_of_dead_owners_are_swept(tmp_path: Path) -> None:
    support = cgroups.detect(v1_host(tmp_path))
    base = support.bases["pids"]
    dead = base / f"{cgroups.GROUP_PREFIX}999999999-aaaa"
    live = base / f"{cgroups.GROUP_PREFIX}1-bbbb"  # pid 1 is always alive
    other = base / "someone-else"
    for d in (dead, live, other):
        d.mkdir()
    assert cgroups.sweep_stale(support) == 1
    assert not dead.exists() and live.exists() and other.exists()
