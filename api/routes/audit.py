"""The audit log (auditors and admins, read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AuditReader, SessionDep
from api.routes.audit_export import EventFilters
from api.schemas import JSON_BODY_LIMIT, AuditEventPublic, error_responses
from pipelines import audit

router = APIRouter(prefix="/audit", tags=["audit"], max_body_size=JSON_BODY_LIMIT)


@router.get("", response_model=list[AuditEventPublic], responses=error_responses(401, 403))
def list_events(
    _actor: AuditReader,
    session: SessionDep,
    filters: EventFilters,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[AuditEventPublic]:
    """Who did what, when, and whether it was allowed: uploads, requests, reads of private
    objects, downloads, approvals, ledger settlements, key changes, and refused requests
    (actor ``unknown`` when no valid key was given). Newest first."""
    events = audit.list_events(session, **filters, limit=limit, offset=offset)
    return [AuditEventPublic.model_validate(e) for e in events]
