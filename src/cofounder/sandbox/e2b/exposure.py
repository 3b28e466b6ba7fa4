"""How a port inside the E2B sandbox becomes reachable from the host, for the generic preview
(`cofounder.sandbox.preview`): E2B itself routes `https://PORT-SANDBOX.e2b.app` to the port, so
there is nothing to open and `host_port` means nothing here.

The health probe cannot be made from this machine (the URL may not be reachable from the
worker, and a probe from outside says nothing about *why* it fails), so it runs inside the
sandbox through `exec`: a `curl` (or, without curl, a python3) request to 127.0.0.1:PORT.
The listening sockets are read there too, with `ss` or from `/proc/net/tcp*`. Screenshots
load the public https URL, after pushing the host's edits so the dev server serves them.
"""

from __future__ import annotations

import shlex

from cofounder.sandbox.e2b.backend import E2BSandbox
from cofounder.sandbox.preview_diagnosis import PROBE_TIMEOUT_S, by_port, proc_net_listeners
from cofounder.sandbox.preview_types import BrowserView, Listener

POLL_S = 0.5  # each probe is a round trip to the cloud
_EXEC_TIMEOUT_S = 15.0
_PY_PROBE = f"""\
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout={PROBE_TIMEOUT_S:g})
    c.request("GET", u.path + ("?" + u.query if u.query else ""),
              headers={{"User-Agent": "cofounder-preview-check"}})
    print(c.getresponse().status)
except Exception:
    print("000")
"""
LISTENERS_COMMAND = (
    "if command -v ss >/dev/null 2>&1; then echo '#ss'; ss -ltnH; "
    "else echo '#proc'; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi"
)


def probe_command(port: int, path: str) -> str:
    """Shell that prints the HTTP status 127.0.0.1:`port``path` answers with, or 000."""
    url = shlex.quote(f"http://127.0.0.1:{port}{path if path.startswith('/') else '/' + path}")
    return (
        "if command -v curl >/dev/null 2>&1; then "
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time {PROBE_TIMEOUT_S:g} "
        f"-A cofounder-preview-check {url}; "
        f"else python3 -c {shlex.quote(_PY_PROBE)} {url}; fi"
    )


def parse_status(stdout: str) -> int | None:
    """The status a probe printed; None for 000 (nothing answered) or garbage."""
    text = stdout.strip()
    if len(text) == 3 and text.isdigit() and 100 <= int(text) <= 599:
        return int(text)
    return None


def _ss_address(line: str) -> Listener | None:
    fields = line.split()
    if len(fields) < 4 or fields[0] != "LISTEN":
        return None
    host, sep, port = fields[3].rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]").split("%", 1)[0]  # [::1], 127.0.0.53%lo
    return Listener("0.0.0.0" if host == "*" else host, int(port))


def parse_listeners(output: str) -> list[Listener]:
    """Listening TCP sockets from LISTENERS_COMMAND's output (`ss -ltnH` or /proc/net/tcp*)."""
    lines = output.splitlines()
    kind = lines[0].strip() if lines else ""
    if kind == "#proc":
        return proc_net_listeners(lines[1:])
    if kind == "#ss":
        return by_port(x for x in map(_ss_address, lines[1:]) if x is not None)
    return []


class PublicPort:
    """One port of the cloud sandbox at the https host E2B serves for it."""

    def __init__(self, sandbox: E2BSandbox, port: int) -> None:
        self._sandbox = sandbox
        self._port = port
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Asked of E2B once, when first needed: the cloud sandbox may start only with the app."""
        if self._url is None:
            self._url = self._sandbox.preview_url(self._port)
        return self._url

    @property
    def host_port(self) -> None:
        return None

    def probe(self, path: str) -> int | None:
        result = self._sandbox.exec(probe_command(self._port, path), timeout_s=_EXEC_TIMEOUT_S)
        return parse_status(result.stdout)

    def view(self, path: str) -> BrowserView:
        """The public URL, loaded from this host, after pushing host edits so the dev server
        serves what the file tools last wrote."""
        self._sandbox.push_workspace()
        return BrowserView(self.url + path)

    def close(self) -> None:
        """Nothing to close: E2B serves the port as long as the cloud sandbox lives."""


class E2BExposure:
    """The `Exposure` of one E2BSandbox."""

    def __init__(self, sandbox: E2BSandbox, *, poll_s: float = POLL_S) -> None:
        self._sandbox = sandbox
        self.poll_s = poll_s

    def expose(self, port: int, *, host_port: int | None) -> PublicPort:
        """The port at E2B's host; `host_port` is ignored (E2B picks the host, which stays
        the same for a port as long as the cloud sandbox lives)."""
        return PublicPort(self._sandbox, port)

    def listeners(self) -> list[Listener]:
        found = self._sandbox.exec(LISTENERS_COMMAND, timeout_s=_EXEC_TIMEOUT_S)
        return parse_listeners(found.stdout)
