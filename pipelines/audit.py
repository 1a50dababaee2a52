"""The audit log: who did what, when. Events are added to the caller's transaction, so
an action and its record commit (or roll back) together. Details carry ids, names,
counts and privacy parameters, never data values."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pipelines.store.models import AuditEvent

if TYPE_CHECKING:
    from pipelines.auth import Actor


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor_id=actor.id,
            actor_name=actor.name,
            actor_role=actor.role,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details or {},
        )
    )


def query(
    *,
    action: str | None = None,
    actor: str | None = None,
    object_id: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Select[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if actor:
        stmt = stmt.where((AuditEvent.actor_name == actor) | (AuditEvent.actor_id == actor))
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if since:
        stmt = stmt.where(AuditEvent.at >= since)
    return stmt.limit(limit).offset(offset)


def list_events(session: Session, **filters: Any) -> list[AuditEvent]:
    return list(session.scalars(query(**filters)).all())
