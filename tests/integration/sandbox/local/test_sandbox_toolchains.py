"""Real toolchains under the seccomp filter: what a build does must keep working.

Each test runs an everyday workload in the real sandbox, offline: pip installing a wheel
built here, npm installing a local package, git committing, Node's threads and child
processes, a C compiler, a Python web app reached from another command, and Chromium both
inside the sandbox and through the product's screenshot path. A tool missing on this machine
skips its test, saying which package brings it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from cofounder.sandbox import BwrapSandbox, SandboxLimits
from cofounder.sandbox.limits import GIB
from cofounder.sandbox.screenshot import ScreenshotError, capture, find_chromium


def needs(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed here (apt-get install -y {package})")


def run_ok(sandbox: BwrapSandbox, command: str, *, timeout_s: float) -> str:
    """Run `command`; its stdout, once it has exited 0 (else fail showing its stderr)."""
    r = sandbox.exec(command, timeout_s=timeout_s)
    assert r.exit_code == 0, r.stderr[-3000:]
    return r.stdout


def build_wheel(package_dir: Path, out_dir: Path, version: str = "0.1") -> Path:
    """A pure-Python wheel of the package folder `package_dir` (name = the folder's name)."""
    name = package_dir.name
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/{p.relative_to(package_dir).as_posix()}": p.read_bytes()
        for p in sorted(package_dir.rglob("*.py"))
    }
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: cofounder-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()] + [
        f"{dist_info}/RECORD,,"
    ]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_pip_installs_a_local_wheel_into_a_venv(sandbox: BwrapSandbox, ws: Path) -> None:
    package = ws / "src" / "tinypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("ANSWER = 42\n")
    (ws / "dist").mkdir()
    wheel = build_wheel(package, ws / "dist")
    out = run_ok(
        sandbox,
        "python3 -m venv venv && venv/bin/python -m pip install -q --no-index "
        f"--no-cache-dir dist/{wheel.name} && venv/bin/python -c "
        "'import tinypkg; print(tinypkg.ANSWER)'",
        timeout_s=180,
    )
    assert out.strip() == "42"
    assert list((ws / "venv" / "lib").glob("python3*/site-packages/tinypkg/__init__.py"))


def test_npm_installs_a_local_package(sandbox: BwrapSandbox, ws: Path) -> None:
    needs("npm", "npm")
    lib = ws / "lib"
    lib.mkdir()
    (lib / "package.json").write_text('{"name": "tiny-lib", "version": "0.1.0"}\n')
    (lib / "index.js").write_text("module.exports = () => 42;\n")
    out = run_ok(
        sandbox,
        "cd lib && npm pack --silent && mkdir ../app && cd ../app && npm init -y >/dev/null && "
        "npm install --offline --no-audit --no-fund ../lib/tiny-lib-0.1.0.tgz && "
        "node -e 'console.log(require(\"tiny-lib\")())'",
        timeout_s=180,
    )
    assert out.splitlines()[-1] == "42"
    assert (ws / "app" / "node_modules" / "tiny-lib" / "index.js").is_file()


def test_git_init_add_commit(sandbox: BwrapSandbox, ws: Path) -> None:
    needs("git", "git")
    out = run_ok(
        sandbox,
        "git init -q repo && cd repo && git config user.email a@example.com && "
        "git config user.name a && echo one > f && git add f && git commit -qm one && "
        "echo two >> f && git commit -qam two && git log --format=%s",
        timeout_s=60,
    )
    assert out.split() == ["two", "one"]


def test_node_threads_child_processes_and_files(sandbox: BwrapSandbox) -> None:
    needs("node", "nodejs")
    script = (
        "const {Worker} = require('worker_threads');"
        "const w = new Worker('process.exit(3)', {eval: true});"
        "w.on('exit', code => {"
        "  require('fs').writeFileSync('n.txt', 'written');"
        "  const child = require('child_process').execSync('echo child').toString().trim();"
        "  console.log(code, child, require('fs').readFileSync('n.txt', 'utf8'));"
        "});"
    )
    out = run_ok(sandbox, f'node -e "{script}"', timeout_s=60)
    assert out.split() == ["3", "child", "written"]


def test_a_c_compiler_builds_and_runs_a_program(sandbox: BwrapSandbox) -> None:
    needs("cc", "gcc")
    out = run_ok(
        sandbox,
        "printf '#include <stdio.h>\\nint main(void){puts(\"compiled\");return 0;}\\n' > h.c"
        " && cc -O1 h.c -o h && ./h",
        timeout_s=120,
    )
    assert out == "compiled\n"


def test_a_python_web_app_answers_another_command(sandbox: BwrapSandbox, ws: Path) -> None:
    if sandbox.netns_path is None:
        pytest.skip("commands share a network only where the worker is root")
    (ws / "index.html").write_text("hello from the app\n")
    info = sandbox.start_background("python3 -m http.server 8000 --bind 127.0.0.1", name="web")
    try:
        out = run_ok(sandbox, _fetch("http://127.0.0.1:8000/index.html"), timeout_s=60)
    finally:
        sandbox.stop_background(info.id)
    assert out == "hello from the app\n"


def test_the_screenshot_path_captures_the_sandboxed_app(sandbox: BwrapSandbox, ws: Path) -> None:
    chromium = _chromium()
    if sandbox.netns_path is None:
        pytest.skip("the screenshot browser joins the sandbox network only where we are root")
    (ws / "index.html").write_text("<html style='background:#10d040'><body>app</body></html>")
    info = sandbox.start_background("python3 -m http.server 8000 --bind 127.0.0.1", name="web")
    try:
        run_ok(sandbox, _fetch("http://127.0.0.1:8000/"), timeout_s=60)
        shots = capture(
            "http://127.0.0.1:8000/",
            chromium=chromium,
            netns_path=sandbox.netns_path,
            nsenter=sandbox.nsenter,
        )
    finally:
        sandbox.stop_background(info.id)
    assert [s.status for s in shots] == [200, 200]
    assert all(s.png.startswith(b"\x89PNG") for s in shots)


def test_chromium_runs_inside_the_sandbox(ws: Path) -> None:
    """Chromium reserves terabytes of address space, so the default 8 GiB RLIMIT_AS stops it
    whatever the filter says; with the limit raised, the filter lets it run."""
    chromium = _chromium()
    binary = Path(os.path.realpath(chromium))
    real = binary.parent.parent / "lib" / "chromium" / "chromium"  # Debian's wrapper reads /etc
    if binary.read_bytes()[:2] == b"#!" and real.is_file():
        binary = real
    (ws / "page.html").write_text("<html style='background:#e01020'><body>hi</body></html>")
    limits = SandboxLimits(address_space_bytes=4096 * GIB)
    with BwrapSandbox(ws, limits) as sb:
        run_ok(
            sb,
            f"{binary} --headless --no-sandbox --disable-gpu --window-size=400,300 "
            "--screenshot=/workspace/shot.png file:///workspace/page.html",
            timeout_s=120,
        )
    assert (ws / "shot.png").read_bytes().startswith(b"\x89PNG")


def _chromium() -> str:
    try:
        return find_chromium()
    except ScreenshotError as exc:
        pytest.skip(str(exc))


def _fetch(url: str) -> str:
    """A command that fetches `url` (retrying while the server starts) and prints the body."""
    return (
        "python3 -c 'import sys, time, urllib.request\n"
        "deadline = time.monotonic() + 50\n"
        "while True:\n"
        "    try:\n"
        "        sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())\n"
        "        break\n"
        "    except OSError:\n"
        "        if time.monotonic() > deadline: sys.exit(1)\n"
        f"        time.sleep(0.1)' {url}"
    )
