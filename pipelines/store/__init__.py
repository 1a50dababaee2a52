"""The store: ORM models, engine and sessions, Alembic migrations."""

from pipelines.store.db import Database
from pipelines.store.migrate import upgrade_head

__all__ = ["Database", "upgrade_head"]
