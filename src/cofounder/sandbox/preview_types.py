"""What a preview is and what starting one found: typed, so tools, engine and CLI agree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

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
