"""The audit log as CSV (auditors and admins), with the filters of ``GET /v1/audit``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.deps import AuditReader, DatabaseDep
from api.schemas import error_responses
from pipelines import audit

router = APIRouter(prefix="/audit", tags=["audit"])

COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_name",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "source_id",
    "outcome",
    "details",
)
MAX_ROWS = 100_000
PAGE = 2_000
# a cell a spreadsheet would run as a formula starts with one of these
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def event_filters(
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
) -> dict[str, object]:
    """The filters of ``GET /v1/audit`` and of its CSV export."""
    return {
        "action": action,
        "actor": actor,
        "object_id": object_id,
        "source_id": source_id,
        "outcome": outcome,
        "since": since,
        "until": until,
    }


EventFilters = Annotated[dict[str, object], Depends(event_filters)]


def safe_cell(value: object) -> str:
    """The cell's text, with a leading quote where a spreadsheet would see a formula
    (actor names and reasons come from clients)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv_line(writer: Any, out: io.StringIO, values: list[object]) -> str:
    writer.writerow([safe_cell(v) for v in values])
    line = out.getvalue()
    out.seek(0)
    out.truncate()
    return line


def _page(
    db: DatabaseDep, filters: dict[str, object], offset: int, size: int
) -> list[list[object]]:
    with db.session() as session:
        return [
            [
                e.id,
                e.at.isoformat(),
                e.actor_id,
                e.actor_name,
                e.actor_role,
                e.action,
                e.object_type,
                e.object_id,
                e.source_id,
                e.outcome,
                json.dumps(e.details, sort_keys=True),
            ]
            for e in audit.list_events(session, **filters, limit=size, offset=offset)
        ]


def event_rows(db: DatabaseDep, filters: dict[str, object], limit: int) -> Iterator[str]:
    """The CSV, page by page. The first page is read before the response starts, so that
    a refused filter answers with its status rather than a cut-off 200."""
    out = io.StringIO()
    writer = csv.writer(out)
    first = _page(db, filters, 0, min(PAGE, limit))

    def lines() -> Iterator[str]:
        yield _csv_line(writer, out, list(COLUMNS))
        page, sent = first, 0
        while page:
            yield "".join(_csv_line(writer, out, row) for row in page)
            sent += len(page)
            if len(page) < PAGE or sent >= limit:
                break
            page = _page(db, filters, sent, min(PAGE, limit - sent))

    return lines()


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={**error_responses(401, 403), 200: {"content": {"text/csv": {}}}},
)
def export_events(
    _actor: AuditReader,
    db: DatabaseDep,
    filters: EventFilters,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = MAX_ROWS,
) -> StreamingResponse:
    """The events that match, newest first, as CSV (details as JSON in one column)."""
    return StreamingResponse(
        event_rows(db, filters, limit),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
