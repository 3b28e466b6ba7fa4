"""The event vocabulary: names and payload shapes shared by the engine and every face."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    SESSION_STARTED = "session_started"
    SESSION_RESUMED = "session_resumed"
    SESSION_FINISHED = "session_finished"
    SESSION_PAUSED = "session_paused"
    THINKING = "thinking"
    ASSISTANT_TEXT = "assistant_text"
    TOOL_STARTED = "tool_started"
    TOOL_CALLED = "tool_called"
    TOOL_STEERED = "tool_steered"
    NARRATION = "narration"
    PHASE_STARTED = "phase_started"
    PHASE_COMPLETED = "phase_completed"
    DOCUMENTATION_UPDATED = "documentation_updated"
    ITERATION_COMMITTED = "iteration_committed"
    WORKSPACE_RESTORED = "workspace_restored"
    SNAPSHOT_FAILED = "snapshot_failed"
    MODEL_FAILED = "model_failed"
    MODEL_UNAVAILABLE = "model_unavailable"
    CANCEL_REQUESTED = "cancel_requested"
    CONTEXT_COMPACTED = "context_compacted"
    BUDGET_UPDATED = "budget_updated"
    BUDGET_EXHAUSTED = "budget_exhausted"
    SLEEPING = "sleeping"
    WAKING = "waking"
    RETRYING = "retrying"
    ESCALATED = "escalated"
    WAITING_FOR_INPUT = "waiting_for_input"
    RESOLVED = "resolved"
