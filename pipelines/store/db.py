"""Engine and sessions for SQLite (the embedded default) and PostgreSQL.

Two kinds of session:
- read sessions begin a plain transaction;
- write sessions, on SQLite, begin with ``BEGIN IMMEDIATE``: the transaction takes the
  database's write lock before its first read, so a read-check-write sequence (the ledger's
  cap check) cannot interleave with another writer. On PostgreSQL write sessions are
  ordinary transactions; code that needs a lock takes a row lock (``SELECT ... FOR UPDATE``).

SQLite runs in WAL mode (readers never block the writer) with a 30 s busy timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

BEGIN_IMMEDIATE = "sqlite_begin_immediate"  # execution option read by the "begin" hook
SQLITE_BUSY_TIMEOUT_MS = 30_000


class Database:
    """One engine and its session factories. Create one per process and share it."""

    def __init__(self, url: str | URL, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        kwargs: dict[str, Any] = {"future": True}
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                _private_sqlite_files(Path(database))
            kwargs["connect_args"] = {
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            }
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 2 * pool_size
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 2 * pool_size
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self.engine, expire_on_commit=False, execution_options={BEGIN_IMMEDIATE: True}
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    def session(self, *, write: bool = False) -> Session:
        """A new session; ``write=True`` locks early on SQLite (see the module docstring)."""
        return self._writer() if write else self._reader()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed when the block succeeds, else rolled back."""
        with self.session(write=write) as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    def safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)


def _private_sqlite_files(database: Path) -> None:
    """The store holds users, key hashes, jobs and releases: 0600 whatever the umask. The
    file is created here (empty, which SQLite opens as a new database) so that it never
    exists with a wider mode; SQLite gives its WAL and shared-memory files the database
    file's mode, and any that exist already are narrowed too."""
    import os

    fd = os.open(database, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_uid == os.getuid():  # a store owned by another account: its business
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = database.with_name(database.name + suffix)
        if extra.exists() and extra.stat().st_uid == os.getuid():
            os.chmod(extra, 0o600)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling starts transactions late and never on SELECT;
    # turn it off and emit BEGIN ourselves (SQLAlchemy's documented recipe), so that a
    # write session can say BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
