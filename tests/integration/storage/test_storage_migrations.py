"""The migrated schema on real databases: `migrate()` is idempotent, the ORM mappings match
what the migrations create, and timestamps come back timezone-aware UTC on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from cf_support import Backend, app_db_url
from cofounder.events import Narration
from cofounder.storage import Database, EventLog, NewSession, SessionStore
from cofounder.storage import db as db_module
from cofounder.storage.documents import upsert_document_in
from cofounder.storage.sessions import insert_in
from cofounder.storage.tables import Base, DocumentRow, SessionRow

TABLES = {"sessions", "messages", "checkpoints", "events", "documents"}


@pytest.fixture
def db(backend: Backend) -> Iterator[Database]:
    database = Database(app_db_url(backend))
    database.migrate()
    yield database
    database.close()


def _new_session(session_id: str) -> NewSession:
    return NewSession(
        id=session_id,
        name="habit tracker",
        owner="founder",
        tier="standard",
        model_spec="scripted:demo",
        project_json="{}",
        workspace="/tmp/ws",
        max_tool_calls=50,
        max_wall_seconds=600.0,
    )


def test_migrate_is_idempotent_and_keeps_data(db: Database, backend: Backend) -> None:
    EventLog(db).append("s", Narration(iteration=1, message="kept"))
    db.migrate()
    db.migrate()
    other = Database(app_db_url(backend))  # a second process starting up
    try:
        other.migrate()
    finally:
        other.close()
    with db.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert versions == [db_module.SCHEMA_HEAD]
        assert set(inspect(conn).get_table_names()) >= TABLES
    assert [(e.seq, e.payload) for e in EventLog(db).read("s")] == [
        (1, {"iteration": 1, "message": "kept"})
    ]


def test_orm_mappings_match_the_migrated_schema(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_compare_metadata_would_notice_a_mismatch(db: Database) -> None:
    """Guards the test above: a mapping that differs from the migration must be reported."""
    from sqlalchemy import Column, Integer, MetaData, String, Table

    drifted = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    Table("events", drifted, Column("extra", Integer), extend_existing=True)
    drifted.tables["documents"].c.section.type = String(10)
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, drifted)
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in diff}
    assert "add_column" in kinds
    assert "modify_type" in kinds


def test_timestamps_round_trip_as_aware_utc(db: Database) -> None:
    plus_five = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=plus_five)
    with db.transaction() as session:
        session.add(
            DocumentRow(
                session_id="s", section="overview", iteration=1, content="x", updated_at=local
            )
        )
    with db.transaction() as session:
        row = session.get(DocumentRow, ("s", "overview", 1))
        assert row is not None
        assert row.updated_at == local  # the same instant, to the microsecond
        assert row.updated_at.tzinfo == UTC
        assert row.updated_at == datetime(2024, 3, 1, 6, 30, 0, 123456, tzinfo=UTC)
    if db.engine.dialect.name == "sqlite":  # stored as UTC text, whatever offset it came in
        with db.engine.connect() as conn:
            raw = conn.execute(text("SELECT updated_at FROM documents")).scalar_one()
        assert raw == "2024-03-01 06:30:00.123456"


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.transaction() as session:
        session.add(
            DocumentRow(
                session_id="s",
                section="x",
                iteration=1,
                content="x",
                updated_at=datetime(2024, 1, 1),
            )
        )
    with db.transaction() as session:
        assert session.get(DocumentRow, ("s", "x", 1)) is None


def test_ordering_by_time_follows_the_instant_not_the_offset(db: Database) -> None:
    store = SessionStore(db)
    with db.transaction() as session:
        insert_in(session, _new_session("early"))
        insert_in(session, _new_session("late"))
    # 10:00 at +09:00 is 01:00 UTC, earlier than 05:00 at -02:00 (07:00 UTC), although the
    # local wall-clock text sorts the other way.
    with db.transaction() as session:
        early = session.get(SessionRow, "early")
        late = session.get(SessionRow, "late")
        assert early is not None and late is not None
        early.created_at = datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=9)))
        late.created_at = datetime(2024, 5, 1, 5, 0, tzinfo=timezone(timedelta(hours=-2)))
    records = store.list()
    assert [r.id for r in records] == ["early", "late"]
    assert all(r.created_at.tzinfo == UTC and r.updated_at.tzinfo == UTC for r in records)
    fresh = store.get("early")
    assert fresh is not None
    assert fresh.created_at == datetime(2024, 5, 1, 1, 0, tzinfo=UTC)
    assert fresh.finished_at is None


def test_schema_head_constant_matches_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from cofounder.storage import db as db_module

    config = Config()
    config.set_main_option("script_location", str(db_module._MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == db_module.SCHEMA_HEAD


_MIGRATE_IN_A_PROCESS = (
    "import sys\n"
    "from cofounder.storage import Database\n"
    "db = Database(sys.argv[1])\n"
    "db.migrate()\n"
    "db.close()\n"
)


def test_processes_starting_together_on_a_fresh_database_all_migrate_it(
    backend: Backend,
) -> None:
    """Two builds started at once used to race to create the tables ("already exists")."""
    import subprocess
    import sys

    url = app_db_url(backend)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE_IN_A_PROCESS, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    database = Database(url)
    try:
        assert db_module.schema_revision(database.engine) == db_module.SCHEMA_HEAD
    finally:
        database.close()


def test_documents_from_before_0011_count_as_written_at_their_sessions_iteration(
    backend: Backend,
) -> None:
    """The rebuilt documents table keeps every row; a row that does not say when it was written
    is dated at its session's current iteration, so a fork from an earlier one does not carry
    text from its future. Down again, the newest text per section is what remains."""
    from alembic import command
    from alembic.config import Config

    database = Database(app_db_url(backend))
    config = Config()
    config.set_main_option("script_location", str(db_module._MIGRATIONS))
    written = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def to(revision: str, *, down: bool = False) -> None:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

    try:
        to("0010")
        with database.transaction() as session:
            insert_in(session, _new_session("s1"))
        with database.engine.begin() as conn:
            conn.execute(text("UPDATE sessions SET iteration = 7 WHERE id = 's1'"))
            for session_id, section, content in [("s1", "overview", "o"), ("gone", "faq", "f")]:
                conn.execute(
                    text(
                        "INSERT INTO documents (session_id, section, content, updated_at) "
                        "VALUES (:s, :c, :t, :u)"
                    ),
                    {"s": session_id, "c": section, "t": content, "u": written},
                )
        database.migrate()
        with database.transaction() as session:
            rows = session.scalars(select(DocumentRow).order_by(DocumentRow.session_id)).all()
            assert [(r.session_id, r.section, r.iteration, r.content) for r in rows] == [
                ("gone", "faq", 0, "f"),  # no session row: the earliest it could be
                ("s1", "overview", 7, "o"),
            ]
            assert rows[1].updated_at == written
            upsert_document_in(session, "s1", "overview", "newer", iteration=9)
        to("0010", down=True)
        with database.engine.connect() as conn:
            kept = conn.execute(
                text("SELECT session_id, section, content FROM documents ORDER BY session_id")
            ).all()
        assert [tuple(r) for r in kept] == [("gone", "faq", "f"), ("s1", "overview", "newer")]
    finally:
        database.close()
