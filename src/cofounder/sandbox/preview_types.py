"""What a preview is and what starting one found, and what a backend's wing supplies to run one
(an `Exposure`): typed, so tools, engine, CLI and both wings agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from cofounder.sandbox.protocol import SandboxError

if TYPE_CHECKING:  # Playwright takes ~0.6 s to import: only the screenshot tool pays for it
    from cofounder.sandbox.screenshot import Screenshot


class PreviewSpec(BaseModel):
    """How to run the app: a foreground command that serves HTTP on `port` in the sandbox."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    path: str = "/"


class PreviewOutcome(BaseModel):
    """The result of starting (or restarting) a preview; `hint` says what to fix when not ok."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    spec: PreviewSpec
    url: str | None = None
    http_status: int | None = None
    waited_s: float = 0.0
    hint: str | None = None
    output_tail: str = ""
    process_id: str | None = None


class PreviewHost(Protocol):
    """Runs a session's app, keeps it reachable by the founder, and photographs it."""

    @property
    def running(self) -> PreviewOutcome | None:
        """The live preview (ok), or None."""
        ...

    def start(self, spec: PreviewSpec, *, host_port: int | None = None) -> PreviewOutcome:
        """Stop any preview, start `spec`, wait until it answers HTTP (or fails, with a hint).

        `host_port` asks for the founder-side port an earlier run used, so the URL stays the
        same; another is taken when it is busy."""
        ...

    def stop(self) -> PreviewOutcome | None:
        """Stop the preview's process and forward; what was running, if anything."""
        ...

    def screenshot(self, path: str | None = None) -> list[Screenshot]:
        """Desktop and mobile pictures of the running preview at `path` (default: its own)."""
        ...


# --- what a wing supplies: how a port inside its sandbox becomes reachable from the host ----


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket in the sandbox: the address it is bound to and its port."""

    address: str
    port: int


@dataclass(frozen=True)
class BrowserView:
    """Where a browser loads a page of the app from: a URL, inside the sandbox's network
    namespace when `netns_path` is set (the page is untrusted), else from the host."""

    url: str
    netns_path: str | None = None
    nsenter: str | None = None


class PreviewUnavailable(SandboxError):
    """This sandbox cannot expose a port at all; the message says what it needs. The preview
    reports it as a failed outcome, not an error."""


class Exposed(Protocol):
    """One port of the sandbox made reachable from the host, until `close`."""

    @property
    def url(self) -> str:
        """The founder's URL of the app, without a trailing slash."""
        ...

    @property
    def host_port(self) -> int | None:
        """The founder-side port, asked for again on a restart so the URL stays the same;
        None where the backend picks the host itself."""
        ...

    def probe(self, path: str) -> int | None:
        """The HTTP status the app answers `path` (absolute) with; None when nothing answers."""
        ...

    def view(self, path: str) -> BrowserView:
        """Where a browser sees `path` (absolute) as the app serves it now; ScreenshotError
        when it cannot."""
        ...

    def close(self) -> None:
        """Stop making the port reachable; safe to call more than once."""
        ...


class Exposure(Protocol):
    """What a wing supplies for the generic preview: it exposes ports and lists listeners."""

    @property
    def poll_s(self) -> float:
        """How long to wait between probes while the app starts (a probe may be a round trip)."""
        ...

    def expose(self, port: int, *, host_port: int | None) -> Exposed:
        """Make `port` reachable, on `host_port` when asked for and free (else another one).

        PreviewUnavailable when this sandbox cannot; SandboxError or ValueError otherwise."""
        ...

    def listeners(self) -> list[Listener]:
        """The TCP sockets listening in the sandbox, ordered by port then address."""
        ...
