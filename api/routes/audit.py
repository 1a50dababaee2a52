"""The audit log (auditors and admins, read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import AuditReader, SessionDep
from api.schemas import JSON_BODY_LIMIT, AuditEventPublic, error_responses
from pipelines import audit

router = APIRouter(prefix="/audit", tags=["audit"], max_body_size=JSON_BODY_LIMIT)


@router.get("", response_model=list[AuditEventPublic], responses=error_responses(401, 403))
def list_events(
    _actor: AuditReader,
    session: SessionDep,
    action: Annotated[str | None, Query(max_length=50)] = None,
    actor: Annotated[str | None, Query(max_length=100, description="a user name or id")] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    source_id: Annotated[
        str | None, Query(max_length=64, description="events on this source and its jobs")
    ] = None,
    outcome: Annotated[
        Literal["ok", "refused"] | None, Query(description="refused: answered 401/403/409/429")
    ] = None,
    since: datetime | None = None,
    until: Annotated[datetime | None, Query(description="events before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[AuditEventPublic]:
    """Who did what, when, and whether it was allowed: uploads, requests, reads of private
    objects, downloads, approvals, ledger settlements, key changes, and refused requests
    (actor ``unknown`` when no valid key was given). Newest first."""
    events = audit.list_events(
        session,
        action=action,
        actor=actor,
        object_id=object_id,
        source_id=source_id,
        outcome=outcome,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return [AuditEventPublic.model_validate(e) for e in events]
