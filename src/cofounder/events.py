"""The event vocabulary: one frozen model per event a session emits, and their union.

The engine builds these models at every emit site; the event log stores `type` and the rest
as the JSON payload; every face (the CLI's feed, `events --json`, an API) reads them back as
the same models. A field added later is optional here, so rows written before it still read.
This module imports only pydantic, the standard library and its two siblings (`event_base`,
`events_founder`, which add only `cofounder.questions`): any part may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cofounder.event_base import AtIteration as _AtIteration
from cofounder.event_base import BaseEvent, Timestamp
from cofounder.events_founder import Escalated, FounderMessage, Resolved, WaitingForInput

__all__ = ["BaseEvent", "Escalated", "FounderMessage", "Resolved", "Timestamp", "WaitingForInput"]


def _absent(value: object) -> bool:
    return value is None


# --- the session's life -------------------------------------------------------------------


class SessionStarted(BaseEvent):
    type: Literal["session_started"] = "session_started"
    name: str
    goal: str
    owner: str
    model: str
    workspace: str
    max_tool_calls: int
    network: str = "none"  # rows from before the network mode existed had none
    # A fork's first event names where it came from (`cofounder fork`); other sessions' first
    # events keep the shape they always had.
    parent_session_id: str | None = Field(default=None, exclude_if=_absent)
    forked_from_iteration: int | None = Field(default=None, exclude_if=_absent)


class SessionResumed(_AtIteration):
    type: Literal["session_resumed"] = "session_resumed"
    run: int | None = None


class SessionPaused(_AtIteration):
    type: Literal["session_paused"] = "session_paused"
    reason: str
    run: int | None = None


class SessionFinished(BaseEvent):
    type: Literal["session_finished"] = "session_finished"
    outcome: str
    reason: str
    iterations: int
    tool_calls: int
    elapsed_seconds: float


class CancelRequested(BaseEvent):
    type: Literal["cancel_requested"] = "cancel_requested"


class Sleeping(_AtIteration):
    """The allowance is spent: the run ends and the session wakes at `wake_at`."""

    type: Literal["sleeping"] = "sleeping"
    wake_at: Timestamp
    reason: str
    run: int | None = None


class Waking(_AtIteration):
    type: Literal["waking"] = "waking"
    run: int
    on_request: bool
    wake_at: Timestamp | None


class Requeued(_AtIteration):
    """Its worker shut down: the session waits in the queue for the next worker, as `run`."""

    type: Literal["requeued"] = "requeued"
    run: int
    worker: str


# --- one iteration ------------------------------------------------------------------------


class Thinking(_AtIteration):
    type: Literal["thinking"] = "thinking"
    context_tokens: int


class AssistantText(_AtIteration):
    type: Literal["assistant_text"] = "assistant_text"
    text: str


class ToolStarted(_AtIteration):
    type: Literal["tool_started"] = "tool_started"
    tool_use_id: str = ""
    name: str


class ToolCalled(_AtIteration):
    type: Literal["tool_called"] = "tool_called"
    tool_use_id: str = ""
    name: str
    label: str = ""
    summary: str = ""
    ok: bool
    exit_code: int | None = None
    duration_ms: int = 0


class ToolSteered(_AtIteration):
    """A guard answered the call instead of running it (`action`: steered or skipped)."""

    type: Literal["tool_steered"] = "tool_steered"
    tool_use_id: str
    name: str
    action: str
    message: str


class Narration(_AtIteration):
    type: Literal["narration"] = "narration"
    message: str


class PhaseStarted(_AtIteration):
    type: Literal["phase_started"] = "phase_started"
    phase: str


class PhaseCompleted(_AtIteration):
    type: Literal["phase_completed"] = "phase_completed"
    phase: str


class DocumentationUpdated(_AtIteration):
    type: Literal["documentation_updated"] = "documentation_updated"
    section: str
    chars: int


class IterationCommitted(_AtIteration):
    type: Literal["iteration_committed"] = "iteration_committed"
    tool_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_microdollars: int


class WorkspaceRestored(_AtIteration):
    type: Literal["workspace_restored"] = "workspace_restored"
    to_iteration: int
    reason: str


class SnapshotFailed(_AtIteration):
    """Attempt `attempt` of `of` to store the workspace failed; the last one gives up."""

    type: Literal["snapshot_failed"] = "snapshot_failed"
    attempt: int
    of: int
    error: str


class ModelFailed(_AtIteration):
    type: Literal["model_failed"] = "model_failed"
    error: str


class ModelUnavailable(_AtIteration):
    type: Literal["model_unavailable"] = "model_unavailable"
    error: str


class ContextCompacted(_AtIteration):
    type: Literal["context_compacted"] = "context_compacted"
    kind: str
    reason: str
    tokens_before: int
    tokens_after: int
    summarized_turns: int
    summary_model: str | None
    cost_microdollars: int


# --- money --------------------------------------------------------------------------------


class BudgetUpdated(_AtIteration):
    type: Literal["budget_updated"] = "budget_updated"
    percent: float
    spent_microdollars: int
    allowance_microdollars: int
    remaining_microdollars: int
    window_end: Timestamp
    wind_down: bool


class BudgetExhausted(_AtIteration):
    """No window can pay for the next call (`fatal`), or this one is spent until it ends."""

    type: Literal["budget_exhausted"] = "budget_exhausted"
    reason: str
    percent: float
    spent_microdollars: int
    allowance_microdollars: int
    window_end: Timestamp
    fatal: bool


# --- healing and the founder's questions --------------------------------------------------


class Retrying(_AtIteration):
    """A healing decision (`kind`: steer, retry or nudge); the fields of `HealingNote`."""

    type: Literal["retrying"] = "retrying"
    kind: str
    key: str
    category: str | None = None
    label: str = ""
    error: str = ""
    attempt: int = 0
    max_attempts: int = 0
    retry_after_s: float | None = None


# --- the founder's app --------------------------------------------------------------------


class PreviewReady(_AtIteration):
    type: Literal["preview_ready"] = "preview_ready"
    url: str | None
    command: str
    port: int
    http_status: int | None
    waited_s: float
    restarted: bool


class PreviewFailed(_AtIteration):
    """The app did not answer; a restart that failed before the app ran has no command."""

    type: Literal["preview_failed"] = "preview_failed"
    command: str | None = None
    port: int | None = None
    hint: str | None
    output_tail: str = ""
    restarted: bool


class PreviewStopped(_AtIteration):
    type: Literal["preview_stopped"] = "preview_stopped"
    url: str | None
    reason: str


class StoppedProcess(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str


class ProcessesStopped(_AtIteration):
    type: Literal["processes_stopped"] = "processes_stopped"
    reason: str
    processes: list[StoppedProcess]


class Screenshot(BaseModel):
    """One stored image (`ref` in the image store) of the page at one viewport."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    viewport: str
    width: int
    height: int
    ref: str
    bytes: int


class ScreenshotTaken(_AtIteration):
    type: Literal["screenshot_taken"] = "screenshot_taken"
    tool_use_id: str
    path: str
    screenshots: list[Screenshot]


AnyEvent = Annotated[
    SessionStarted
    | SessionResumed
    | SessionFinished
    | SessionPaused
    | Thinking
    | AssistantText
    | ToolStarted
    | ToolCalled
    | ToolSteered
    | Narration
    | PhaseStarted
    | PhaseCompleted
    | DocumentationUpdated
    | IterationCommitted
    | WorkspaceRestored
    | SnapshotFailed
    | ModelFailed
    | ModelUnavailable
    | CancelRequested
    | ContextCompacted
    | BudgetUpdated
    | BudgetExhausted
    | Sleeping
    | Waking
    | Requeued
    | Retrying
    | Escalated
    | WaitingForInput
    | Resolved
    | FounderMessage
    | PreviewReady
    | PreviewFailed
    | PreviewStopped
    | ScreenshotTaken
    | ProcessesStopped,
    Field(discriminator="type"),
]

# Every event model, and every name, read off the union (never written twice).
EVENT_MODELS: tuple[type[BaseEvent], ...] = get_args(get_args(AnyEvent)[0])
EVENT_TYPES: frozenset[str] = frozenset(m.model_fields["type"].default for m in EVENT_MODELS)

_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(type_: str, payload: Mapping[str, Any]) -> AnyEvent:
    """A stored event (its type and payload) as its model.

    Raises `pydantic.ValidationError` for an unknown type, an unknown key or a wrong value.
    """
    return _ADAPTER.validate_python({**payload, "type": type_})


def event_payload(event: BaseEvent) -> dict[str, Any]:
    """The payload as stored and as `events --json` prints it: every field but `type`."""
    return event.model_dump(mode="json", exclude={"type"})
