"""The preview on the E2B sandbox: the app as a background process in the cloud, reached at the
https host E2B serves for its port, with a health check that explains failures.

There is no forward to open: E2B routes `https://PORT-SANDBOX.e2b.app` to the port itself, so
`host_port` means nothing here. The health check cannot be made from this machine (the URL may
not be reachable from the worker, and a probe from outside says nothing about *why* it fails),
so it runs inside the sandbox through `exec`: a `curl` (or, without curl, a python3) request
to 127.0.0.1:PORT, repeated until it gets any HTTP status (a 404 or 500 is still a running
app), the process exits (the hint says so, with its output), or time runs out (the hint reads
the sandbox's listening sockets, as the local preview does, to say whether the app bound
another interface, another port, or nothing). Screenshots load the public https URL.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
import time

from cofounder.sandbox.e2b.backend import E2BSandbox
from cofounder.sandbox.preview import (
    LISTEN_STATE,
    PREVIEW_PROCESS_NAME,
    TAIL_BYTES,
    Listener,
    diagnose,
    hex_to_address,
)
from cofounder.sandbox.preview_types import PreviewOutcome, PreviewSpec
from cofounder.sandbox.protocol import BackgroundInfo, SandboxError
from cofounder.sandbox.screenshot import Screenshot, ScreenshotError, capture, find_chromium

_EXEC_TIMEOUT_S = 15.0
_PY_PROBE = """\
import http.client, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
try:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=2)
    c.request("GET", u.path + ("?" + u.query if u.query else ""),
              headers={"User-Agent": "cofounder-preview-check"})
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
        f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 2 "
        f"-A cofounder-preview-check {url}; "
        f"else python3 -c {shlex.quote(_PY_PROBE)} {url}; fi"
    )


def parse_status(stdout: str) -> int | None:
    """The status a probe printed; None for 000 (nothing answered) or garbage."""
    text = stdout.strip()
    if len(text) == 3 and text.isdigit() and 100 <= int(text) <= 599:
        return int(text)
    return None


def _ss_address(local: str) -> Listener | None:
    host, sep, port = local.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]").split("%", 1)[0]  # [::1], 127.0.0.53%lo
    return Listener("0.0.0.0" if host == "*" else host, int(port))


def parse_listeners(output: str) -> list[Listener]:
    """Listening TCP sockets from LISTENERS_COMMAND's output (`ss -ltnH` or /proc/net/tcp*)."""
    lines = output.splitlines()
    kind = lines[0].strip() if lines else ""
    found: set[Listener] = set()
    for line in lines[1:]:
        fields = line.split()
        if kind == "#ss" and len(fields) >= 4 and fields[0] == "LISTEN":
            listener = _ss_address(fields[3])
        elif kind == "#proc" and len(fields) >= 4 and fields[3] == LISTEN_STATE:
            hex_addr, _, hex_port = fields[1].partition(":")
            try:
                listener = Listener(hex_to_address(hex_addr), int(hex_port, 16))
            except ValueError:
                listener = None
        else:
            listener = None
        if listener is not None:
            found.add(listener)
    return sorted(found, key=lambda x: (x.port, x.address))


def _exit_hint(info: BackgroundInfo | None, port: int) -> str:
    if info is None or info.exit_code is None:
        return (
            f"the command stopped before anything answered on port {port} and its exit code "
            "is unknown (the cloud sandbox it ran in is gone); its output is below"
        )
    return (
        f"the command exited with code {info.exit_code} before anything answered on port "
        f"{port}; its output is below"
    )


class E2BPreview:
    """The `PreviewHost` of one E2BSandbox; closing the sandbox stops it too."""

    def __init__(
        self,
        sandbox: E2BSandbox,
        *,
        chromium: str | None = None,
        ready_timeout_s: float = 30.0,
        poll_s: float = 0.5,
    ) -> None:
        self._sandbox = sandbox
        self._chromium = chromium
        self._ready_timeout_s = ready_timeout_s
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._running: PreviewOutcome | None = None

    @property
    def running(self) -> PreviewOutcome | None:
        return self._running

    def start(self, spec: PreviewSpec, *, host_port: int | None = None) -> PreviewOutcome:
        """Stop any preview, start `spec` in the cloud sandbox, wait until it answers HTTP.

        `host_port` is ignored: E2B picks the public host, which stays the same for a port as
        long as the cloud sandbox lives.
        """
        with self._lock:
            self._stop_locked()
            info = self._sandbox.start_background(spec.command, name=PREVIEW_PROCESS_NAME)
            try:
                outcome = self._await_ready(spec, info.id)
            except BaseException:
                self._stop_quietly(info.id)
                raise
            if outcome.ok:
                self._running = outcome
            else:
                self._stop_quietly(info.id)
                outcome = outcome.model_copy(update={"output_tail": self._tail(info.id)})
            return outcome

    def _await_ready(self, spec: PreviewSpec, process_id: str) -> PreviewOutcome:
        started = time.monotonic()
        deadline = started + self._ready_timeout_s
        probe = probe_command(spec.port, spec.path)
        while True:
            status = parse_status(self._sandbox.exec(probe, timeout_s=_EXEC_TIMEOUT_S).stdout)
            waited = round(time.monotonic() - started, 2)
            if status is not None:
                return PreviewOutcome(
                    ok=True,
                    spec=spec,
                    url=self._sandbox.preview_url(spec.port),
                    http_status=status,
                    waited_s=waited,
                    process_id=process_id,
                    output_tail=self._tail(process_id),
                )
            info = self._info(process_id)
            hint: str | None = None
            if info is None or not info.running:
                hint = _exit_hint(info, spec.port)
            elif time.monotonic() >= deadline:
                found = self._sandbox.exec(LISTENERS_COMMAND, timeout_s=_EXEC_TIMEOUT_S)
                hint = f"no HTTP answer within {self._ready_timeout_s:g} s: " + diagnose(
                    parse_listeners(found.stdout), spec.port
                )
            if hint is not None:
                return PreviewOutcome(
                    ok=False, spec=spec, waited_s=waited, process_id=process_id, hint=hint
                )
            time.sleep(self._poll_s)

    def _info(self, process_id: str) -> BackgroundInfo | None:
        return next((p for p in self._sandbox.list_background() if p.id == process_id), None)

    def _tail(self, process_id: str) -> str:
        try:
            return self._sandbox.background_output(process_id, max_bytes=TAIL_BYTES)
        except KeyError:
            return ""

    def _stop_quietly(self, process_id: str) -> None:
        # KeyError or SandboxError: the cloud sandbox is gone or closing, and so is the process
        with contextlib.suppress(KeyError, SandboxError):
            self._sandbox.stop_background(process_id)

    def stop(self) -> PreviewOutcome | None:
        """Stop the preview's process; what was running, if anything."""
        with self._lock:
            return self._stop_locked()

    def _stop_locked(self) -> PreviewOutcome | None:
        was, self._running = self._running, None
        if was is not None and was.process_id is not None:
            self._stop_quietly(was.process_id)
        return was

    def screenshot(self, path: str | None = None) -> list[Screenshot]:
        """Desktop and mobile pictures of the public https URL, after pushing host edits so
        the dev server serves what the file tools last wrote."""
        running = self._running
        if running is None or running.url is None:
            raise ScreenshotError(
                "no preview is running: start the app with the `preview` tool first"
            )
        if running.process_id is not None:
            info = self._info(running.process_id)
            if info is None or not info.running:
                raise ScreenshotError("the preview's process has stopped; start the preview again")
        target = path if path is not None else running.spec.path
        if not target.startswith("/"):
            target = "/" + target
        self._sandbox.push_workspace()
        return capture(
            running.url + target, chromium=find_chromium(self._chromium), netns_path=None
        )
