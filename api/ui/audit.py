"""The audit log with filters and CSV export (auditors and admins)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from api.deps import DatabaseDep, SessionDep
from api.routes.audit_export import MAX_ROWS, event_rows
from api.ui.core import AuditPage, PageRoute, render
from pipelines import audit
from pipelines.errors import InvalidRequest

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
PAGE = 100


def _time(text: str | None, what: str) -> datetime | None:
    """A time from the filter form (empty: no bound); naive times are UTC."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{what} must be a date and time (YYYY-MM-DDTHH:MM)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


Text = Annotated[str | None, Query(max_length=100)]
Outcome = Literal["ok", "refused", ""] | None


def _filters(
    source_id: Text = None,
    user: Text = None,
    action: Text = None,
    outcome: Outcome = None,
    since: Text = None,
    until: Text = None,
) -> dict[str, object]:
    """The filter form's fields (empty: no filter), shared by the page and its CSV."""
    return {
        "source_id": source_id or None,
        "actor": user or None,
        "action": action or None,
        "outcome": outcome or None,
        "since": _time(since, "from"),
        "until": _time(until, "until"),
    }


Filters = Annotated[dict[str, object], Depends(_filters)]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    _actor: AuditPage,
    session: SessionDep,
    filters: Filters,
    page: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    events = audit.list_events(session, **filters, limit=PAGE + 1, offset=page * PAGE)
    query = {k: v for k, v in request.query_params.items() if k != "page" and v}
    return render(
        request,
        "audit.html",
        {
            "events": events[:PAGE],
            "more": len(events) > PAGE,
            "page": page,
            "query": query,
            "query_string": urlencode(query),
        },
    )


@router.get("/audit/export.csv")
def export_events(
    _actor: AuditPage,
    db: DatabaseDep,
    filters: Filters,
) -> Response:
    return StreamingResponse(
        event_rows(db, filters, MAX_ROWS),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
