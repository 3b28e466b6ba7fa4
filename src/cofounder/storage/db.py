"""Database engines, sessions and migrations for the application database."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

_MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test keeps the two in step). Knowing it lets a
# start-up skip importing Alembic (~0.3 s) when the schema is already current.
SCHEMA_HEAD = "0011"
PG_CONNECT_TIMEOUT_S = 10  # unless the URL sets connect_timeout


def normalise_url(url: str) -> str:
    """Plain `postgresql://` means psycopg 3 here (psycopg2 is not installed)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, decoded by SQLAlchemy's own parser (a path may hold `?` or
    `#`, escaped in the URL); None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the live view read while the session writes; busy_timeout rides out short locks.
    # synchronous=NORMAL in WAL mode syncs at checkpoints, not at every commit: a committed
    # transaction is in the WAL file (the OS page cache) before COMMIT returns, so it survives
    # the process being killed (SIGKILL, what the crash tests do); only an OS crash or power
    # loss can drop the last few commits, and never corrupts the file.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _dbos_sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    # As DBOS's own SQLite engine sets them (dbos/_sys_db_sqlite.py): writers serialised by
    # BEGIN IMMEDIATE, foreign keys enforced.
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    dbapi_connection.isolation_level = "IMMEDIATE"


def dbos_system_engine(url: str) -> Engine | None:
    """An engine for DBOS's SQLite system database with the pragmas above; None otherwise.

    DBOS's own SQLite engine keeps the rollback journal with synchronous=FULL: about four
    fsyncs per recorded step. It is handed to DBOS as `system_database_engine`, which DBOS
    never disposes of: the caller does."""
    database = sqlite_file(url)
    if database is None:
        return None
    database.parent.mkdir(parents=True, exist_ok=True)
    # DBOS's pool settings for its system database, less the pre-ping (a local file).
    engine = create_engine(url, pool_size=20, max_overflow=0, pool_timeout=30)
    event.listen(engine, "connect", _dbos_sqlite_connect)
    return engine


# A write that matches nothing: it takes SQLite's one writer lock without changing a row.
_TAKE_WRITER = text("UPDATE budget_topups SET id = id WHERE 1 = 0")


def hold_sqlite_writer(session: Session) -> None:
    """Take SQLite's writer lock now, once per transaction. A transaction takes it only at its
    first write; one that reads first (a `max(seq)`, a budget) must not decide on what another
    writer may change before it writes."""
    if not session.info.get("cofounder_sqlite_writer"):
        session.execute(_TAKE_WRITER)
        session.info["cofounder_sqlite_writer"] = True


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    database = sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # libpq waits for ever on a server that accepts and never answers (a wrong port that some
    # other service holds): a start would hang instead of failing with the setting named.
    given = "connect_timeout" in make_url(url).query
    timeout = {} if given else {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return create_engine(url, pool_pre_ping=True, connect_args=timeout)


def schema_revision(engine: Engine) -> str | None:
    """The schema's revision; None before the first migration. A database that cannot be
    reached raises (once: retrying here doubled the wait for a silent server)."""
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None


# Key of the PostgreSQL advisory lock that serialises migrations ("CFMG").
_MIGRATION_LOCK = 0x43464D47


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrator at a time: two processes starting on a fresh database must not both
    create its tables (SQLite runs DDL outside transactions, so a file lock guards it)."""
    database = engine.url.database
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})"))
            try:
                yield
            finally:
                connection.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})"))
                connection.commit()
    elif engine.dialect.name == "sqlite" and database and database != ":memory:":
        with open(f"{database}.migrate-lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        yield


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to call on every start, from any number
    of processes at once."""
    if schema_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    with _migration_lock(engine):
        if schema_revision(engine) == SCHEMA_HEAD:
            return  # another process migrated while this one waited
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


class Database:
    """One engine and session factory per process; `transaction()` is the unit of atomicity."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    # Called before every transaction; a worker installs its lease check here (fail-stop).
    before_transaction: Callable[[], None] | None = None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self.before_transaction is not None:
            self.before_transaction()
        with self._sessions.begin() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()
