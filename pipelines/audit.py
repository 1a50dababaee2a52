"""The audit log: who did what, when, and whether it was allowed.

Events are added to the caller's transaction, so an action and its record commit (or roll
back) together; a ledger settlement is recorded in the settlement's transaction. Two kinds
of event have no transaction to join and use ``record_alone``: refusals (the refused
request rolled back) and reads of private objects. Details carry ids, names, counts and
privacy parameters, never data values and never an API key."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pipelines.actors import Actor
from pipelines.store.models import AuditEvent, Job, Release

if TYPE_CHECKING:
    from pipelines.store.db import Database

log = logging.getLogger("synthgen.audit")

OK = "ok"
REFUSED = "refused"
UNKNOWN_ACTOR = "unknown"  # a request refused before any user was known (401)


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    outcome: str = OK,
    source_id: str | None = None,
) -> None:
    """Add an event to the caller's transaction. ``actor`` None: nobody known (a 401)."""
    if source_id is None and object_type == "source":
        source_id = object_id
    session.add(
        AuditEvent(
            actor_id=actor.id if actor else None,
            actor_name=actor.name if actor else UNKNOWN_ACTOR,
            actor_role=actor.role if actor else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            details=details or {},
            outcome=outcome,
            source_id=source_id,
        )
    )


def source_of(session: Session, object_type: str | None, object_id: str | None) -> str | None:
    """The source a job or release belongs to (for events named by their object only)."""
    if not object_id or len(object_id) > 32:
        return None
    if object_type == "source":
        return object_id
    if object_type == "job":
        return session.scalar(select(Job.source_id).where(Job.id == object_id))
    if object_type == "release":
        return session.scalar(select(Release.source_id).where(Release.id == object_id))
    return None


def record_alone(
    db: Database,
    actor: Actor | None,
    action: str,
    object_type: str | None = None,
    object_id: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    outcome: str = OK,
    source_id: str | None = None,
) -> None:
    """Record an event in a transaction of its own. A failure to write is logged, not
    raised: the answer the event describes has been decided already."""
    try:
        with db.transaction(write=True) as session:
            if source_id is None:
                source_id = source_of(session, object_type, object_id)
            record(
                session,
                actor,
                action,
                object_type,
                object_id,
                details,
                outcome=outcome,
                source_id=source_id,
            )
    except Exception as exc:  # the store is down or busy: say so, keep answering
        log.error("could not record audit event %s (%s)", action, type(exc).__name__)


def query(
    *,
    action: str | None = None,
    actor: str | None = None,
    object_id: str | None = None,
    source_id: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
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
    if source_id:
        stmt = stmt.where(AuditEvent.source_id == source_id)
    if outcome:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    if since:
        stmt = stmt.where(AuditEvent.at >= _aware(since))
    if until:
        stmt = stmt.where(AuditEvent.at < _aware(until))
    return stmt.limit(limit).offset(offset)


def _aware(when: datetime) -> datetime:
    """A time without a zone is UTC (the store keeps aware UTC times)."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def list_events(session: Session, **filters: Any) -> list[AuditEvent]:
    return list(session.scalars(query(**filters)).all())
