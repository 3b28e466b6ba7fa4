"""The request a session sends each turn, with compaction when it nears the model's window.

The raw transcript is never rewritten: a compaction stores a `ContextSummary` row (what was
replaced or trimmed) and later requests render the transcript through the latest one. It runs
inside the think step, before the model call, so a crash after it is recorded reuses it.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel, ConfigDict

from cofounder.agent.context.conversation_check import conversation_problems
from cofounder.agent.context.size import chars_to_tokens, wire_tokens
from cofounder.agent.context.summarizer import PinnedFacts, summary_request
from cofounder.agent.context.view import (
    CompactionDecision,
    ContextPolicy,
    ContextState,
    after_summary,
    decide,
    render_view,
)
from cofounder.agent.prompt import build_system_prompt
from cofounder.engine.budget import reserve_in, settle_in
from cofounder.engine.faults import crash_point
from cofounder.engine.images import with_image_data
from cofounder.engine.runtime import Runtime
from cofounder.engine.startup import summarizer_for
from cofounder.events import ContextCompacted
from cofounder.llm import ModelError, ModelRequest, Usage
from cofounder.llm.tiers import context_window
from cofounder.project import ProjectSpec
from cofounder.storage import ContextSummary, SessionRecord
from cofounder.storage.events import append_in
from cofounder.storage.ledger import CallKey
from cofounder.storage.sessions import row_in
from cofounder.storage.transcript import save_summary_in, summary_in
from cofounder.tools import tool_specs

log = structlog.get_logger(__name__)


class PreparedRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    request: ModelRequest
    context_tokens: int  # estimated size of the whole request's input


def prepare_request(
    rt: Runtime, record: SessionRecord, spec: ProjectSpec, iteration: int
) -> PreparedRequest:
    """The next request for `record`, compacting first when it would fill too much window.

    Raises ModelError when the summarizer fails (the think step treats it like the model
    failing) and RuntimeError if the rendered conversation is invalid (a bug, never sent).
    """
    system = build_system_prompt(
        spec, not_saved=rt.settings.snapshot_excludes, network=record.network_mode
    )
    tools = tool_specs()
    max_tokens = rt.settings.max_tokens
    overhead = chars_to_tokens(len(system) + _tools_chars()) + max_tokens
    summary, transcript = rt.transcript.conversation(record.id)
    state = _state(summary)
    kickoff, tail = transcript[0], transcript[state.raw_cut :]
    policy = ContextPolicy(
        window_tokens=context_window(record.model_spec, rt.settings.context_windows),
        threshold=rt.settings.compaction_threshold,
        keep_turns=rt.settings.compaction_keep_turns,
        tool_result_chars=rt.settings.compaction_tool_result_chars,
    )
    decision = decide(kickoff, tail, state, policy, overhead_tokens=overhead)
    if decision.kind != "none" and _compacted_already(rt, record.id, iteration):
        decision = decision.model_copy(update={"kind": "none"})  # a retry: the row is there
    if decision.kind == "trim":
        state = decision.state
        _record(rt, record, iteration, decision, state)
    elif decision.kind == "summarize":
        cut_before = state.raw_cut
        state = _summarize(rt, record, spec, iteration, decision)
        tail = tail[state.raw_cut - cut_before :]
    messages = render_view(kickoff, tail, state, tool_result_chars=policy.tool_result_chars)
    problems = conversation_problems(messages)
    if problems:
        raise RuntimeError(f"the conversation to send is invalid: {'; '.join(problems[:3])}")
    tokens = overhead - max_tokens + sum(wire_tokens(m) for m in messages)
    # Images travel by reference until here; only the ones still in the view are read back.
    request = ModelRequest(
        system=system, messages=with_image_data(rt, messages), tools=tools, max_tokens=max_tokens
    )
    return PreparedRequest(request=request, context_tokens=tokens)


@functools.cache
def _tools_chars() -> int:
    """The tool definitions' size: the same for every request."""
    return len(json.dumps([t.model_dump() for t in tool_specs()]))


def _state(row: ContextSummary | None) -> ContextState:
    if row is None:
        return ContextState()
    return ContextState(
        raw_cut=row.raw_cut,
        summary_text=row.summary_text,
        summarized_turns=row.summarized_turns,
        trimmed_before=row.trimmed_before,
    )


def _summary_key(session_id: str, iteration: int) -> CallKey:
    return CallKey(session_id=session_id, iteration=iteration, purpose="summary")


def _compacted_already(rt: Runtime, session_id: str, iteration: int) -> bool:
    with rt.db.transaction() as session:
        return summary_in(session, session_id, iteration) is not None


def summarizer_spec(rt: Runtime, record: SessionRecord) -> str:
    """The tier's summarizer when the session runs on its tier's coder; otherwise the model the
    founder chose explicitly (a local or scripted model summarizes its own work)."""
    return summarizer_for(rt.settings.tier_models(), record.tier, record.owner, record.model_spec)


def _summarize(
    rt: Runtime,
    record: SessionRecord,
    spec: ProjectSpec,
    iteration: int,
    decision: CompactionDecision,
) -> ContextState:
    model_spec = summarizer_spec(rt, record)
    checkpoint = rt.transcript.latest_checkpoint(record.id)
    documents = rt.documents.all(record.id)
    facts = PinnedFacts(
        goal=spec.goal,
        plan="\n".join(documents[k] for k in ("overview", "features") if k in documents),
        phase=checkpoint.phase if checkpoint else None,
    )
    request = summary_request(decision.to_summarize, facts)
    with rt.db.transaction() as session:
        reserve_in(
            session,
            rt,
            record,
            _summary_key(record.id, iteration),
            model_spec,
            input_tokens=chars_to_tokens(len(request.model_dump_json())),
            max_tokens=request.max_tokens,
        )
    turn = rt.model(record.id, model_spec).complete(request)
    text = turn.text.strip()
    if not text:
        raise ModelError(f"the summarizer {model_spec} returned an empty summary")
    state = after_summary(decision, text, facts)
    cost = rt.prices.cost_microdollars(model_spec, turn.usage)
    _record(
        rt, record, iteration, decision, state, summarizer=model_spec, usage=turn.usage, cost=cost
    )
    return state


def _record(
    rt: Runtime,
    record: SessionRecord,
    iteration: int,
    decision: CompactionDecision,
    state: ContextState,
    *,
    summarizer: str = "",
    usage: Usage | None = None,
    cost: int = 0,
) -> None:
    """The new state, its event and the summarizer's cost, in one transaction."""
    with rt.db.transaction() as session:
        save_summary_in(
            session,
            ContextSummary(
                session_id=record.id,
                iteration=iteration,
                raw_cut=state.raw_cut,
                summarized_turns=state.summarized_turns,
                trimmed_before=state.trimmed_before,
                summary_text=state.summary_text,
                model_spec=summarizer,
                created_at=datetime.now(UTC),
            ),
        )
        if usage is not None:
            settle_in(
                session,
                rt,
                record.owner,
                record.tier,
                _summary_key(record.id, iteration),
                model_spec=summarizer,
                usage=usage,
                cost=cost,
            )
            row = row_in(session, record.id)
            row.spend_microdollars += cost
            row.input_tokens += usage.input_tokens
            row.output_tokens += usage.output_tokens
        append_in(
            session,
            record.id,
            ContextCompacted(
                iteration=iteration,
                kind=decision.kind,
                reason=decision.reason,
                tokens_before=decision.tokens_before,
                tokens_after=decision.tokens_after,
                summarized_turns=state.summarized_turns,
                summary_model=summarizer or None,
                cost_microdollars=cost,
            ),
        )
    crash_point("context.after_compaction")
    log.info(
        "context_compacted",
        session_id=record.id,
        iteration=iteration,
        kind=decision.kind,
        tokens_before=decision.tokens_before,
        tokens_after=decision.tokens_after,
    )
