"""Self-healing as a pure policy: failures in, steering / backoff / escalation decisions out.

Same shape as the loop guards: `plan_healing(state, config, observations)` returns the
decisions and the next state, depends on nothing but its inputs (no clock, no randomness) and
its state is plain JSON stored in the checkpoint, so a replay after a crash decides the same.

The ladder, per failure signature: environment failures are retried with backoff before they
count; never-retry failures (credentials, authentication) escalate at once; otherwise attempts
1 and 2 are steered towards a different approach, naming what already failed, and attempt 3
escalates. Beyond single failures it watches for loops (A,B,A,B,...) and turns without
progress: first a nudge, then an escalation, never a dead end. All texts are for the engine to
append after the tool results, one result per tool_use stays untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

from cofounder.agent.commands.head import NOTE_TOOLS, describe, is_read_only, success_keys
from cofounder.agent.healing.escalation import (
    EscalationReason,
    draft_escalation,
    escalated_text,
    founder_reply,
    loop_nudge_text,
    no_progress_nudge_text,
    retry_text,
    steer_text,
    waiting_text,
)
from cofounder.agent.healing.signature import Failure, action_key, analyse
from cofounder.agent.healing.state import (
    LOOP_KEY,
    NO_PROGRESS_KEY,
    FailureRecord,
    HealingConfig,
    HealingNote,
    HealingPlan,
    HealingState,
    NoteKind,
    Observation,
    SeenCall,
    observations,
)
from cofounder.questions import Question

__all__ = [
    "LOOP_KEY",
    "NO_PROGRESS_KEY",
    "FailureRecord",
    "HealingConfig",
    "HealingNote",
    "HealingPlan",
    "HealingState",
    "Observation",
    "find_cycle",
    "founder_reply",
    "observations",
    "plan_healing",
    "resolved",
]

_DESCRIPTION_CHARS = 160


def _clip(text: str) -> str:
    return text if len(text) <= _DESCRIPTION_CHARS else text[: _DESCRIPTION_CHARS - 1] + "…"


def find_cycle(keys: Sequence[str], repeats: int) -> int | None:
    """The period (2 or 3) of a cycle of different calls repeated `repeats` times at the end."""
    for period in (2, 3):
        size = period * repeats
        if len(keys) < size:
            continue
        tail = list(keys[-size:])
        unit = tail[:period]
        if len(set(unit)) > 1 and all(tail[i] == unit[i % period] for i in range(size)):
            return period
    return None


class _Turn:
    """The mutable scratch space of one planning pass; frozen again into HealingState."""

    def __init__(self, state: HealingState, config: HealingConfig) -> None:
        self.config = config
        self.turn = state.turn + 1
        self.failures = dict(state.failures)
        self.recent = list(state.recent)
        self.since_loop = state.since_loop
        self.changes = list(state.changes)
        self.nudged = set(state.nudged)
        self.open_stuck = list(state.open_stuck)
        self.escalations = state.escalations
        self.no_progress = state.no_progress_turns
        self.progress = False
        self.retry_after: float | None = None
        self.messages: list[str] = []
        self.notes: list[HealingNote] = []
        self.drafts: list[Question] = []
        self.ceiling_reached = False
        self.cleared: list[str] = []

    def say(self, kind: NoteKind, text: str, note: HealingNote) -> None:
        self.messages.append(text)
        self.notes.append(note.model_copy(update={"kind": kind}))

    def escalate(self, note: HealingNote, reason: EscalationReason, tried: tuple[str, ...]) -> None:
        self.escalations += 1
        draft = draft_escalation(
            key=note.key,
            reason=reason,
            category=note.category or "ordinary",
            label=note.label,
            error=note.error,
            attempts=tried,
            count=note.attempt,
        )
        self.drafts.append(draft)
        self.ceiling_reached |= self.escalations >= self.config.max_escalations
        self.say("escalate", escalated_text(draft), note)

    def succeeded(self, obs: Observation, label: str, fresh: bool) -> None:
        keys = success_keys(obs.tool_name, obs.tool_input)
        for signature, record in list(self.failures.items()):
            if record.reset_key in keys:
                del self.failures[signature]
                self.cleared.append(signature)
                self.progress = True
                self.nudged.discard("loop")
        self.progress = self.progress or fresh
        if obs.tool_name in NOTE_TOOLS:
            return  # telling the founder something new is progress; it changes no file
        if not is_read_only(obs.tool_name, obs.tool_input) and label not in self.changes[-1:]:
            self.changes = [*self.changes, label][-4:]

    def failed(self, failure: Failure, key: str, label: str) -> None:
        config, sig, error = self.config, failure.signature, failure.key_line
        record = self.failures.get(sig) or FailureRecord(
            signature=sig,
            category=failure.category,
            rule=failure.rule,
            reset_key=failure.reset_key,
            label=label,
            error=error,
        )
        record = record.model_copy(update={"last_turn": self.turn, "label": label})
        note = HealingNote(
            kind="steer", key=sig, category=failure.category, label=label, error=error
        )
        if record.escalated:  # already with the founder: no second escalation, no count
            self.failures[sig] = record
            self.say("waiting", waiting_text(label, error), note)
            return
        if failure.category == "environment" and record.env_retries < config.env_retries:
            delay = min(
                config.backoff_base_s * config.backoff_factor**record.env_retries,
                config.backoff_max_s,
            )
            record = record.model_copy(update={"env_retries": record.env_retries + 1})
            self.failures[sig] = record
            self.retry_after = max(self.retry_after or 0.0, delay)
            n, of = record.env_retries, config.env_retries
            note = note.model_copy(
                update={"attempt": n, "max_attempts": of, "retry_after_s": delay}
            )
            self.say("retry", retry_text(label, error, failure.rule, delay, n, of), note)
            return
        described = _clip(f"{', '.join(self.changes)}, then {label}" if self.changes else label)
        same = key in record.actions and not self.changes  # nothing changed since it failed
        record = record.model_copy(
            update={
                "attempts": record.attempts + 1,
                "tried": (*record.tried, described)[-6:],
                "actions": (*record.actions, key)[-6:],
            }
        )
        self.changes = []
        note = note.model_copy(
            update={"attempt": record.attempts, "max_attempts": config.max_attempts}
        )
        if failure.category == "never_retry" or record.attempts >= config.max_attempts:
            self.failures[sig] = record.model_copy(update={"escalated": True})
            never = failure.category == "never_retry"
            self.escalate(note, "never_retry" if never else "attempts_exhausted", record.tried)
            return
        self.failures[sig] = record
        text = steer_text(
            label, error, record.attempts, config.max_attempts, record.tried, same=same
        )
        self.say("steer", text, note)

    def stuck_checks(self, loop: tuple[str, ...] | None) -> None:
        """Nudge first, escalate if it goes on; no stuck escalation while another one is open
        (the founder is already being asked) or one was raised this turn."""
        config = self.config
        waiting = bool(self.open_stuck) or any(r.escalated for r in self.failures.values())
        if loop is not None and not self.drafts:
            shown = " → ".join(loop)
            note = HealingNote(kind="nudge", key=LOOP_KEY, label=shown, attempt=1)
            if "loop" not in self.nudged:
                self.nudged.add("loop")
                self.say("nudge", loop_nudge_text(loop, config.loop_repeats), note)
            elif not waiting:
                self.open_stuck.append(LOOP_KEY)
                note = note.model_copy(update={"attempt": 2})
                self.escalate(note, "loop", (f"repeated {shown}",))
        if self.progress:
            self.no_progress = 0
            self.nudged.discard("no_progress")
            return
        self.no_progress += 1
        note = HealingNote(
            kind="nudge", key=NO_PROGRESS_KEY, label="the build", attempt=self.no_progress
        )
        if self.no_progress >= config.no_progress_escalate_turns:
            if not waiting and not self.drafts:
                self.open_stuck.append(NO_PROGRESS_KEY)
                self.escalate(note, "no_progress", ())
        elif (
            self.no_progress >= config.no_progress_nudge_turns and "no_progress" not in self.nudged
        ):
            self.nudged.add("no_progress")
            self.say("nudge", no_progress_nudge_text(self.no_progress), note)

    def bounded_failures(self) -> dict[str, FailureRecord]:
        """Forget the oldest quiet signatures past the cap, so the checkpoint stays small."""
        extra = len(self.failures) - self.config.max_tracked_signatures
        if extra <= 0:
            return self.failures
        quiet = sorted(
            (r for r in self.failures.values() if not r.escalated),
            key=lambda r: (r.last_turn, r.signature),
        )
        drop = {r.signature for r in quiet[:extra]}
        return {s: r for s, r in self.failures.items() if s not in drop}


def plan_healing(
    state: HealingState, config: HealingConfig, observations: Sequence[Observation]
) -> HealingPlan:
    """Decide this turn's healing from the calls that ran and their results (in call order).

    Call it once per assistant turn, also for a turn with no tool calls (that is a turn without
    progress). A signature counts at most once per turn, so a batch of identical failures is
    one attempt, not an instant escalation.
    """
    work = _Turn(state, config)
    before = {seen.key for seen in state.recent}
    handled: set[str] = set()
    loop: tuple[str, ...] | None = None
    for obs in observations:
        key = action_key(obs.tool_name, obs.tool_input)
        label = describe(obs.tool_name, obs.tool_input)
        failure = analyse(obs.tool_name, obs.tool_input, obs.result)
        if failure is None:
            work.succeeded(obs, label, fresh=key not in before)
        elif failure.signature not in handled:
            handled.add(failure.signature)
            work.failed(failure, key, label)
        if obs.tool_name not in NOTE_TOOLS:
            work.recent = [*work.recent, SeenCall(key=key, label=label)][-config.loop_window :]
            work.since_loop = min(work.since_loop + 1, config.loop_window)
            keys = [s.key for s in work.recent[-work.since_loop :]]
            period = find_cycle(keys, config.loop_repeats)
            if period is not None and loop is None:
                loop = tuple(s.label for s in work.recent[-period:])
                work.since_loop = 0  # the next loop must be a fresh set of repeats
    work.stuck_checks(loop)
    return HealingPlan(
        state=HealingState(
            turn=work.turn,
            failures=work.bounded_failures(),
            recent=tuple(work.recent),
            since_loop=work.since_loop,
            changes=tuple(work.changes),
            no_progress_turns=work.no_progress,
            nudged=tuple(sorted(work.nudged)),
            open_stuck=tuple(work.open_stuck),
            escalations=work.escalations,
        ),
        messages=tuple(work.messages),
        notes=tuple(work.notes),
        escalations=tuple(work.drafts),
        retry_after_s=work.retry_after,
        cleared=tuple(work.cleared),
        ceiling_reached=work.ceiling_reached,
    )


def resolved(state: HealingState, key: str) -> HealingState:
    """The founder answered the escalation `key` (or its deadline applied the default): that
    signature starts from zero, and so do the stuck counters, since the answer changes course."""
    failures = {s: r for s, r in state.failures.items() if s != key}
    return state.model_copy(
        update={
            "failures": failures,
            "open_stuck": tuple(k for k in state.open_stuck if k != key),
            "no_progress_turns": 0,
            "nudged": (),
            "since_loop": 0,
            "changes": (),
        }
    )
