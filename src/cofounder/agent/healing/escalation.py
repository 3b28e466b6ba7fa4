"""What healing says: steering for the model, questions for the founder, and the
founder's answer turned back into an instruction.

Kept apart from the policy so the wording can change without touching the decisions. Every
text is plain: the engine appends it after the tool results (never in place of one).
"""

from __future__ import annotations

from typing import Literal

from cofounder.agent.healing.error_class import ErrorCategory
from cofounder.questions import Option, Question

EscalationReason = Literal["attempts_exhausted", "never_retry", "loop", "no_progress"]


_OPTIONS: dict[str, Option] = {
    o.key: o
    for o in (
        Option(
            key="provide_credentials",
            label="Provide the credentials",
            description="Add the key or login it needs, and I'll carry on with the real service.",
        ),
        Option(
            key="use_placeholder",
            label="Continue with a placeholder",
            description="Build everything else with a stand-in; the real service can be "
            "connected later.",
        ),
        Option(
            key="skip_feature",
            label="Skip this feature",
            description="Leave this part out for now and finish the rest.",
        ),
        Option(
            key="simpler_version",
            label="Try a simpler version",
            description="Build a simpler version of this part that avoids the problem.",
        ),
        Option(
            key="provide_guidance",
            label="Give specific guidance",
            description="Tell me how you'd like this handled and I'll follow it.",
        ),
        Option(
            key="retry_later",
            label="Try again later",
            description="It looks like an outside service is down; retry once it is back.",
        ),
    )
}

# (option keys, default, recommendation) for each kind of escalation.
_MENU: dict[str, tuple[tuple[str, ...], str, str]] = {
    "never_retry": (
        ("provide_credentials", "use_placeholder", "skip_feature"),
        "use_placeholder",
        "Provide the credentials if you have them; otherwise I'll use a placeholder so the "
        "rest of the app still works.",
    ),
    "environment": (
        ("retry_later", "skip_feature", "provide_guidance"),
        "retry_later",
        "This is outside the project; I recommend retrying later.",
    ),
    "ordinary": (
        ("simpler_version", "skip_feature", "provide_guidance"),
        "simpler_version",
        "I recommend a simpler version of this part so the rest of the build can go on.",
    ),
    "stuck": (
        ("simpler_version", "provide_guidance", "skip_feature"),
        "simpler_version",
        "I recommend narrowing this part down to something simpler; guidance from you would "
        "also unblock me.",
    ),
}

_INSTRUCTIONS: dict[str, str] = {
    "provide_credentials": "They have provided the credentials: check they are now available "
    "where the guidance says, then retry the step.",
    "use_placeholder": "Use a stand-in (a mock or sample data) for this service so everything "
    "else works, and document how to connect the real one.",
    "skip_feature": "Leave this part out: make sure everything else works without it, and say "
    "in the docs that it is not included yet.",
    "simpler_version": "Build a simpler version of this part that avoids the problem, then "
    "verify it.",
    "provide_guidance": "Follow their guidance; it overrides your earlier approaches.",
    "retry_later": "The environment may have recovered: retry the step once, and if it still "
    "fails, move on to other parts.",
}

_ENVIRONMENT_WORDS = {
    "dns": "the network (name lookup failed)",
    "network_unreachable": "the network (unreachable)",
    "connect_timeout": "the network (connection timed out)",
    "connection_refused": "a remote service (connection refused)",
    "disk_full": "the disk (full)",
    "registry_down": "the package registry (unavailable)",
    "rate_limited": "a remote service (rate limited)",
}


def _numbered(items: tuple[str, ...] | list[str]) -> str:
    return "\n".join(f"  {i}. {item}" for i, item in enumerate(items, 1))


def steer_text(
    label: str, error: str, attempt: int, max_attempts: int, tried: tuple[str, ...], *, same: bool
) -> str:
    lines = [
        f"Self-healing: {label} failed (attempt {attempt} of {max_attempts} at this problem).",
        error if error.lower().startswith("error") else f"Error: {error or '(no message)'}",
        "Approaches that already failed:",
        _numbered(tried),
    ]
    if same:
        lines.append(
            "You ran exactly the same action that had already failed with this error; "
            "repeating it cannot give a different result."
        )
    lines.append(
        "Do not repeat what already failed. Work out the cause from the output above and try "
        "a genuinely different approach (a different fix, command, library or a simpler design), "
        f"then verify it. After {max_attempts} failed attempts the founder will be asked."
    )
    return "\n".join(lines)


def retry_text(label: str, error: str, rule: str | None, delay_s: float, n: int, of: int) -> str:
    where = _ENVIRONMENT_WORDS.get(rule or "", "the environment")
    todo = (
        "Free some space first (remove caches or build output), then retry the step"
        if rule == "disk_full"
        else "Then retry the same step"
    )
    return (
        f"Self-healing: {label} failed because of {where}, not your approach: {error}\n"
        f"The build waits {delay_s:g}s before your next step. {todo} (environment retry "
        f"{n} of {of}); if it keeps failing it counts as a failed attempt."
    )


def waiting_text(label: str, error: str) -> str:
    return (
        f"Self-healing: {label} hit the problem that is already with the founder ({error}). "
        "Do not retry it; work on other parts until they answer."
    )


def escalated_text(question: Question) -> str:
    return (
        f"Self-healing: escalated to the founder. {question.problem}\n"
        "Do not retry this. Their answer will arrive as a message; until then continue with "
        "parts of the build that do not depend on it, or stop and wait if nothing else can move."
    )


def loop_nudge_text(labels: tuple[str, ...], repeats: int) -> str:
    return (
        f"Stuck check: you are going round in a loop: {' → '.join(labels)}, repeated "
        f"{repeats} times without getting anywhere. Stop repeating it. Re-read the last "
        "results, decide what is actually wrong, and change strategy (or take a smaller, "
        "simpler step). If the loop goes on, the founder will be asked."
    )


def no_progress_nudge_text(turns: int) -> str:
    return (
        f"Stuck check: {turns} turns without progress (no new step has succeeded). Step back: "
        "sum up what you know, pick one concrete next step unlike what you have been doing, "
        "and verify it. If nothing changes, the founder will be asked."
    )


def problem_text(
    reason: EscalationReason,
    category: ErrorCategory,
    label: str,
    error: str,
    attempts: int,
) -> str:
    if reason == "never_retry":
        return (
            f"{label} needs access I don't have: “{error}”. Retrying cannot fix this; it "
            "needs credentials or permission from you."
        )
    if reason == "loop":
        return f"I'm going round in circles, repeating {label} without getting further."
    if reason == "no_progress":
        return f"I've spent {attempts} turns without making progress on the build."
    if category == "environment":
        return (
            f"{label} keeps failing because of something outside the project (network, "
            f"package registry or disk): “{error}”. Waiting and retrying did not help."
        )
    return (
        f"{label} keeps failing with “{error}”. I tried {attempts} different approaches and "
        "none of them fixed it."
    )


def draft_escalation(
    *,
    key: str,
    reason: EscalationReason,
    category: ErrorCategory,
    label: str,
    error: str,
    attempts: tuple[str, ...],
    count: int,
) -> Question:
    """The question for a problem healing gives up on; its menu follows the kind of failure."""
    menu: str = category
    if reason in ("loop", "no_progress"):
        menu = "stuck"
    elif reason == "never_retry":
        menu = "never_retry"
    keys, default, recommendation = _MENU[menu]
    return Question(
        key=key,
        reason=reason,
        problem=problem_text(reason, category, label, error, count),
        error=error,
        tried=attempts,
        recommendation=recommendation,
        options=tuple(_OPTIONS[k] for k in keys),
        default_option=default,
    )


def founder_reply(
    question: Question, choice: str, guidance: str | None = None, *, defaulted: bool = False
) -> str:
    """The founder's answer (or the default at the deadline) as a message for the model."""
    option = question.option(choice) or _OPTIONS.get(choice)
    label = option.label if option else choice
    return reply_text(question.problem, choice, label, guidance, defaulted=defaulted)


def reply_text(
    problem: str, choice: str, label: str, guidance: str | None, *, defaulted: bool
) -> str:
    """The answer to any question (the policy's or the agent's own `ask_founder`)."""
    head = (
        "The founder did not answer in time, so the default applies"
        if defaulted
        else "The founder answered"
    )
    lines = [f"{head}. Your question was: {problem}", f"Choice: {label}."]
    if guidance and guidance.strip():
        lines.append(f"Their guidance: {guidance.strip()}")
    lines.append(_INSTRUCTIONS.get(choice, "Act on their answer."))
    lines.append("The attempt count for this problem starts again from zero.")
    return "\n".join(lines)
