"""Bring the store's schema to the latest Alembic revision, safely from several processes.

``synthgen serve``, the workers and the service CLI call ``upgrade_head`` at start-up, so a
new deployment or a new version needs no manual step. Concurrent callers serialize: on
SQLite the migration runs in a ``BEGIN IMMEDIATE`` transaction (SQLite DDL is
transactional), on PostgreSQL under a transaction-scoped advisory lock.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from pipelines.store.db import BEGIN_IMMEDIATE, Database

MIGRATIONS = Path(__file__).parent / "migrations"
ADVISORY_LOCK_KEY = 0x5359_4E54  # "SYNT"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % must be doubled
    cfg.set_main_option(
        "sqlalchemy.url", db.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


@cache
def _head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def head_revision(db: Database) -> str | None:
    """The newest revision this code knows (the same for every store)."""
    return _head()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_up_to_date(db: Database) -> bool:
    return current_revision(db) == head_revision(db)


def upgrade_head(db: Database) -> None:
    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        conn = conn.execution_options(**{BEGIN_IMMEDIATE: True})
        with conn.begin():
            if db.is_postgresql:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
