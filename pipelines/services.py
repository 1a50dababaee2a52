"""What a service process holds: settings, the store, the artifact store, a dispatcher."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.artifacts import ArtifactStore
from pipelines.dispatch import Dispatcher, make_dispatcher
from pipelines.settings import Settings
from pipelines.store import Database, upgrade_head


@dataclass
class Services:
    settings: Settings
    db: Database
    store: ArtifactStore
    dispatcher: Dispatcher

    def close(self) -> None:
        self.db.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Database:
    """Open the store, upgrading its schema to the latest revision (``migrate``)."""
    db = Database(settings.sqlalchemy_url)
    if migrate:
        upgrade_head(db)
    return db


def open_services(settings: Settings, *, migrate: bool = True) -> Services:
    """Open the store (upgrading its schema to the latest revision) and the data dir."""
    db = open_store(settings, migrate=migrate)
    store = ArtifactStore(settings)
    store.ensure_layout()
    return Services(settings=settings, db=db, store=store, dispatcher=make_dispatcher(settings))
