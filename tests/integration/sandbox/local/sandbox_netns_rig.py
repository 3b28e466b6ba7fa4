"""A private two-namespace network for egress tests; no packet ever leaves this machine.

    [sandbox netns] --pasta--> [A: plays "the host"] --veth--> [B: plays "the internet"]

A has 198.51.100.1/24, a default route to B, its own services on 0.0.0.0:8081 (stand-ins for
host loopback and host-address services) and a fake /etc/resolv.conf pointing at B. B
(198.51.100.2, A's gateway) holds an allowed "registry" at 203.0.113.80, a cloud-metadata
stand-in at 169.254.169.254 and a private-range host at 10.99.0.1, all on TCP 8080, plus a
DNS server at 203.0.113.53 that resolves `registry.test`. The sandbox under test runs in a
worker process whose network namespace is A, so its pasta treats A as the host.

Run as a script it is that worker: it reads a JSON job on stdin and prints JSON results.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

A_ADDR, B_ADDR = "198.51.100.1", "198.51.100.2"
REGISTRY, METADATA, PRIVATE, DNS = "203.0.113.80", "169.254.169.254", "10.99.0.1", "203.0.113.53"
B_PORT, A_PORT = 8080, 8081
A_SECRET = "A-HOST-SECRET"

# Runs inside B: a TCP banner server on all of B's addresses and a one-name DNS server.
B_SERVER = r"""
import socket, socketserver, struct, threading
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(f"hello from {self.request.getsockname()[0]}\n".encode())
socketserver.ThreadingTCPServer.allow_reuse_address = True
tcp = socketserver.ThreadingTCPServer(("0.0.0.0", 8080), H)
threading.Thread(target=tcp.serve_forever, daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("203.0.113.53", 53))
print("ready", flush=True)
while True:
    q, peer = udp.recvfrom(512)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1 : i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype = struct.unpack("!H", q[i + 1 : i + 3])[0]
    question = q[12 : i + 5]
    name = ".".join(labels)
    if name == "registry.test" and qtype == 1:
        answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("203.0.113.80")
        head = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    else:
        answer = b""
        flags = 0x8180 if name == "registry.test" else 0x8183
        head = q[:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0)
    udp.sendto(head + question + answer, peer)
"""

# Runs inside A: the "host's own" service, reachable on A's loopback and on A's address.
A_SERVER = r"""
import socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"A-HOST-SECRET\n")
socketserver.TCPServer.allow_reuse_address = True
srv = socketserver.TCPServer(("0.0.0.0", 8081), H)
print("ready", flush=True)
srv.serve_forever()
"""

# A command for the sandbox: connect (TCP, or UDP send) and print what happened.
PROBE = r"""
import errno, socket, sys
host, port, proto = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    if proto == "dns":
        host = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        print("RESOLVED", host)
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (host, port))
        print("SENT")
    else:
        s = socket.create_connection((host, port), timeout=30)
        print("CONNECTED", s.recv(100).decode().strip())
except OSError as exc:
    print("ERR", errno.errorcode.get(exc.errno or 0, str(exc)))
"""


def probe_command(host: str, port: int | str, proto: str = "tcp") -> str:
    """A bash command that runs PROBE in the sandbox."""
    return f"python3 -c '{PROBE}' {host} {port} {proto}"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


def _holder() -> subprocess.Popen[bytes]:
    """A process alone in a new network namespace (kept until teardown)."""
    proc = subprocess.Popen(["unshare", "--net", "--", "sleep", "3600"])
    ours = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 60
    while os.readlink(f"/proc/{proc.pid}/ns/net") == ours:
        if time.monotonic() > deadline:
            raise RuntimeError("unshare --net did not take effect")
        time.sleep(0.005)
    return proc


@dataclass
class Rig:
    a: subprocess.Popen[bytes]
    b: subprocess.Popen[bytes]
    resolv: Path

    def ns(self, which: str) -> str:
        holder = self.a if which == "a" else self.b
        return f"/proc/{holder.pid}/ns/net"

    def in_ns(self, which: str, *argv: str) -> list[str]:
        return ["nsenter", f"--net={self.ns(which)}", "--", *argv]

    def host_can_reach(self, host: str, port: int) -> str:
        """Connect from A itself (outside any sandbox): proves the target really exists."""
        code = (
            "import socket,sys; s=socket.create_connection((sys.argv[1],int(sys.argv[2])),30);"
            "print(s.recv(100).decode().strip())"
        )
        done = _run(*self.in_ns("a", sys.executable, "-c", code, host, str(port)))
        return done.stdout.strip()

    def start_worker(self, job: dict[str, object]) -> subprocess.Popen[str]:
        """Start the worker in A with the fake resolv.conf mounted over /etc/resolv.conf."""
        wrapper = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        argv = self.in_ns(
            "a",
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", wrapper, "sh", str(self.resolv), sys.executable, __file__,
        )  # fmt: skip
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job))
        proc.stdin.close()
        return proc

    def run_worker(self, job: dict[str, object]) -> dict[str, Any]:
        """Run the worker to the end and return its JSON report."""
        proc = self.start_worker(job)
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        err = proc.stderr.read()
        if proc.wait(timeout=120) != 0:
            raise RuntimeError(f"egress worker failed ({proc.returncode}): {err.strip()}")
        report: dict[str, Any] = json.loads(out)
        return report


def _serve(argv: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"test server did not start: {argv}")
    return proc


@contextlib.contextmanager
def netns_rig(tmp: Path) -> Iterator[Rig]:
    """Build the two namespaces and their servers; tear everything down afterwards."""
    procs: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
    try:
        a, b = _holder(), _holder()
        procs += [a, b]
        resolv = tmp / "resolv.conf"
        resolv.write_text(f"nameserver {DNS}\n")
        rig = Rig(a, b, resolv)
        _run("ip", "link", "add", "cfa0", "netns", str(a.pid), "type", "veth",
             "peer", "name", "cfb0", "netns", str(b.pid))  # fmt: skip
        a_setup = (
            f"ip link set lo up; ip addr add {A_ADDR}/24 dev cfa0; ip link set cfa0 up; "
            f"ip route add default via {B_ADDR}"
        )
        _run(*rig.in_ns("a", "sh", "-c", a_setup))
        extra = " ".join(f"ip addr add {x}/32 dev lo;" for x in (REGISTRY, METADATA, PRIVATE, DNS))
        b_setup = (
            f"ip link set lo up; {extra} ip addr add {B_ADDR}/24 dev cfb0; ip link set cfb0 up"
        )
        _run(*rig.in_ns("b", "sh", "-c", b_setup))
        procs.append(_serve(rig.in_ns("b", sys.executable, "-c", B_SERVER)))
        procs.append(_serve(rig.in_ns("a", sys.executable, "-c", A_SERVER)))
        yield rig
    finally:
        for proc in reversed(procs):
            proc.kill()
            proc.wait()


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _worker() -> None:
    """Inside A: one egress sandbox runs every command of the job; results go to stdout."""
    from cofounder.sandbox import BwrapSandbox

    job = json.loads(sys.stdin.read())
    sandbox = BwrapSandbox(Path(job["workspace"]), network="egress")
    egress = sandbox._egress
    assert egress is not None
    helpers = [egress.pasta_pid, egress.holder_pid]
    if job.get("hang"):
        print(json.dumps({"helpers": helpers}), flush=True)
        time.sleep(3600)
    results = {
        name: sandbox.exec(cmd, timeout_s=60).model_dump() for name, cmd in job["commands"].items()
    }
    describe = sandbox.active_limits().describe()
    sandbox.close()
    deadline = time.monotonic() + 60  # only bounds the wait: they go at once
    while (alive := [p for p in helpers if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(json.dumps({"results": results, "helpers": helpers, "alive_after_close": alive,
                      "describe": describe}))  # fmt: skip


if __name__ == "__main__":
    _worker()
