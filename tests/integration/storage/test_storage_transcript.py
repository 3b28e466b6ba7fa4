"""The transcript and checkpoints on real databases: messages come back exactly as written,
the latest checkpoint is the highest iteration, and a checkpoint cannot be written twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from cf_support import Backend, app_db_url
from cofounder.llm.messages import ImageBlock, Message, TextBlock, ToolResultBlock, ToolUseBlock
from cofounder.storage import Checkpoint, Database, Transcript
from cofounder.storage.transcript import append_messages_in, save_checkpoint_in


@pytest.fixture
def db(backend: Backend) -> Iterator[Database]:
    database = Database(app_db_url(backend))
    database.migrate()
    yield database
    database.close()


def _checkpoint(session_id: str, iteration: int, **changes: object) -> Checkpoint:
    fields: dict[str, object] = {
        "session_id": session_id,
        "iteration": iteration,
        "message_count": 2 * iteration + 1,
        "snapshot_id": f"snap-{iteration}",
        "guard_state": {"repeats": {"npm test": iteration}, "steered": [1, 2]},
        "phase": f"phase {iteration}",
        "elapsed_seconds": 1.25 * iteration,
        "created_at": datetime(2026, 1, 1, 12, 0, iteration, 123456, tzinfo=UTC),
    }
    fields.update(changes)
    return Checkpoint.model_validate(fields)


CONVERSATION = [
    Message(
        role="user", content=[TextBlock(text="Build a habit tracker 📅 — «quickly»\n\tplease")]
    ),
    Message(
        role="assistant",
        content=[
            TextBlock(text="I'll look at the workspace first."),
            ToolUseBlock(
                id="toolu_01",
                name="run",
                input={
                    "command": 'ls -la && echo "done"',
                    "timeout": 30,
                    "env": {"CI": "1"},
                    "args": [1, 2.5, None, True, {"deep": ["x"]}],
                },
            ),
            ToolUseBlock(id="toolu_02", name="read_file", input={}),
        ],
    ),
    Message(
        role="user",
        content=[
            ToolResultBlock(tool_use_id="toolu_01", content="total 0\n", is_error=False),
            ToolResultBlock(tool_use_id="toolu_02", content="no such file: 'x'", is_error=True),
            ImageBlock(media_type="image/png", ref="sha256:" + "ab" * 32),
        ],
    ),
    Message(role="assistant", content=[TextBlock(text="")]),
]


def test_messages_round_trip_exactly(db: Database) -> None:
    with db.transaction() as session:
        append_messages_in(session, "s", 0, 0, CONVERSATION[:1])
    with db.transaction() as session:
        append_messages_in(session, "s", 1, 1, CONVERSATION[1:])
        append_messages_in(session, "other", 1, 0, [CONVERSATION[3]])
    transcript = Transcript(db)
    messages = transcript.messages("s")
    assert messages == CONVERSATION
    assert [m.model_dump() for m in messages] == [m.model_dump() for m in CONVERSATION]
    image = messages[2].content[2]
    assert isinstance(image, ImageBlock) and image.data is None  # stored by reference only
    assert transcript.messages("s", limit=2) == CONVERSATION[:2]
    assert transcript.messages("other") == [CONVERSATION[3]]
    assert transcript.messages("nobody") == []


def test_a_message_index_cannot_be_written_twice(db: Database) -> None:
    with db.transaction() as session:
        append_messages_in(session, "s", 0, 0, CONVERSATION[:2])
    with pytest.raises(IntegrityError), db.transaction() as session:
        append_messages_in(session, "s", 1, 1, CONVERSATION[2:])
    assert Transcript(db).messages("s") == CONVERSATION[:2]  # the failed write left no trace


def test_latest_checkpoint_is_the_highest_iteration(db: Database) -> None:
    transcript = Transcript(db)
    assert transcript.latest_checkpoint("s") is None
    for iteration in (0, 2, 10, 1, 9):  # written out of order; 10 > 9 > 2 numerically
        with db.transaction() as session:
            save_checkpoint_in(session, _checkpoint("s", iteration))
    with db.transaction() as session:
        save_checkpoint_in(session, _checkpoint("other", 50))
    assert transcript.latest_checkpoint("s") == _checkpoint("s", 10)
    assert transcript.checkpoint("s", 9) == _checkpoint("s", 9)
    assert transcript.checkpoint("s", 3) is None
    assert transcript.latest_checkpoint("other") == _checkpoint("other", 50)


def test_a_checkpoint_is_never_written_twice(db: Database) -> None:
    with db.transaction() as session:
        save_checkpoint_in(session, _checkpoint("s", 4))
    with pytest.raises(IntegrityError), db.transaction() as session:
        append_messages_in(session, "s", 4, 0, CONVERSATION)
        save_checkpoint_in(session, _checkpoint("s", 4, snapshot_id="other", message_count=99))
    transcript = Transcript(db)
    assert transcript.checkpoint("s", 4) == _checkpoint("s", 4)
    assert transcript.messages("s") == []  # the whole transaction rolled back
    with db.transaction() as session:  # another session's iteration 4 is fine
        save_checkpoint_in(session, _checkpoint("t", 4, phase=None, guard_state={}))
    assert transcript.checkpoint("t", 4) == _checkpoint("t", 4, phase=None, guard_state={})
