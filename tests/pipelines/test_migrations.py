"""Alembic migrations: the initial revision builds exactly the ORM's tables, upgrades are
idempotent and safe from several processes at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from pipelines.store import Database, upgrade_head
from pipelines.store.migrate import current_revision, head_revision, is_up_to_date
from pipelines.store.models import Base
from tests.support.service import REPO


def _database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if backend == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'store.db'}")
    return Database(request.getfixturevalue("postgres_url"))


def test_migrations_match_the_models(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = _database(backend, request, tmp_path)
    upgrade_head(db)
    upgrade_head(db)  # a second time is a no-op
    assert is_up_to_date(db) and current_revision(db) == head_revision(db)
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
        tables = set(inspect(conn).get_table_names())
    assert diff == [], diff
    assert set(Base.metadata.tables) <= tables
    db.dispose()


@pytest.mark.slow
def test_migrations_from_several_processes_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    code = "import sys; from pipelines.store import Database, upgrade_head; upgrade_head(Database(sys.argv[1]))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    assert is_up_to_date(Database(url))
