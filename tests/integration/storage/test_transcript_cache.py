"""A transcript reader keeps what it validated: later reads still see every message committed
since (by anyone), ranges are cut from the whole conversation, and a hole in the indexes is
an error, never a shorter conversation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cf_support import Backend, app_db_url
from cofounder.llm.messages import Message, TextBlock
from cofounder.storage import Database, Transcript
from cofounder.storage.transcript import ContextSummary, append_messages_in, save_summary_in


@pytest.fixture
def db(backend: Backend) -> Iterator[Database]:
    database = Database(app_db_url(backend))
    database.migrate()
    yield database
    database.close()


def _message(n: int) -> Message:
    return Message(role="user" if n % 2 == 0 else "assistant", content=[TextBlock(text=f"m{n}")])


def _append(db: Database, session_id: str, start: int, count: int) -> None:
    with db.transaction() as session:
        messages = [_message(n) for n in range(start, start + count)]
        append_messages_in(session, session_id, start, start, messages)


def test_reads_after_more_commits_see_them_all(db: Database) -> None:
    reader = Transcript(db)
    _append(db, "s", 0, 3)
    assert reader.messages("s") == [_message(n) for n in range(3)]
    _append(db, "s", 3, 2)  # committed after the reader cached the first three
    assert reader.messages("s", limit=1) == [_message(0)]
    assert reader.messages("s", start=2) == [_message(n) for n in range(2, 5)]
    assert reader.messages("s", start=4, limit=5) == [_message(4)]
    summary, conversation = reader.conversation("s")
    assert summary is None and conversation == [_message(n) for n in range(5)]
    conversation.clear()  # the caller's copy: the reader's own is untouched
    assert reader.messages("s") == [_message(n) for n in range(5)]


def test_conversation_reads_the_latest_summary_with_the_messages(db: Database) -> None:
    _append(db, "s", 0, 4)
    for iteration, cut in ((2, 2), (3, 3)):
        with db.transaction() as session:
            save_summary_in(
                session,
                ContextSummary(
                    session_id="s",
                    iteration=iteration,
                    raw_cut=cut,
                    summarized_turns=cut - 1,
                    trimmed_before=cut,
                    summary_text=f"summary {iteration}",
                    model_spec="scripted:x",
                ),
            )
    summary, conversation = Transcript(db).conversation("s")
    assert summary is not None and summary.iteration == 3 and summary.raw_cut == 3
    assert len(conversation) == 4


def test_a_hole_in_the_indexes_is_an_error(db: Database) -> None:
    _append(db, "s", 0, 2)
    with db.transaction() as session:
        append_messages_in(session, "s", 2, 3, [_message(3)])  # index 2 is missing
    with pytest.raises(RuntimeError, match="no message 2"):
        Transcript(db).messages("s")
