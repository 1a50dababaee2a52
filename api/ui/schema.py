"""Reviewing the schema drafted from a table (stewards; auditors read it)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, StoreDep
from api.ui.core import Csrf, PageRoute, SourcePage, StewardPage, flash, redirect, render
from api.ui.forms import columns_from_form, constraints_from_form
from pipelines import schema_review
from pipelines.store.models import Role
from synthgen.tabular.constraint_parsing import parse_constraints
from synthgen.tabular.schema import KINDS, ROLES

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


@router.get("/sources/{source_id}/schema", response_class=HTMLResponse)
def schema_page(
    request: Request,
    source_id: str,
    actor: SourcePage,
    session: SessionDep,
    db: DatabaseDep,
    store: StoreDep,
) -> Response:
    drafted = schema_review.draft(session, store, actor, source_id)
    record_read(db, actor, "schema.read", "source", source_id, source_id=source_id)
    columns = [
        {
            "fields": c.fields,
            "drawn": c.drawn,
            "categories": ", ".join(str(v) for v in c.fields.get("categories") or []),
        }
        for c in drafted.columns
    ]
    rules = [
        {
            "text": parse_constraints([r.fields], "the draft")[0].describe(),
            "drawn": bool(r.drawn),
            "rows_breaking": r.rows_breaking,
            "rows_compared": r.rows_compared,
            "kept": drafted.accepted,
        }
        for r in drafted.constraints
    ]
    return render(
        request,
        "schema.html",
        {
            "source_id": source_id,
            "draft": drafted,
            "columns": columns,
            "rules": rules,
            "kinds": KINDS,
            "roles": ROLES,
            "editable": actor.role == Role.steward and not drafted.accepted,
        },
    )


@router.post("/sources/{source_id}/schema", dependencies=[Csrf])
async def accept_schema(
    request: Request,
    source_id: str,
    actor: StewardPage,
    db: DatabaseDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
) -> Response:
    form = await request.form()

    def accept() -> tuple[str, str, str | None]:
        with db.session() as session:
            drafted = schema_review.draft(session, store, actor, source_id)
        columns = columns_from_form(form, len(drafted.columns), drafted.columns)
        rules, kept_rules = constraints_from_form(form, drafted.constraints)
        accept_all = form.get("accept-all") == "on"
        accepted = [
            f"{c.fields['name']}.{field}"
            for i, c in enumerate(drafted.columns)
            for field in c.drawn
            if accept_all or form.get(f"accept-{i}-{field}") == "on"
        ]
        _source, job = schema_review.accept_schema(
            db,
            store,
            actor,
            source_id,
            columns=columns,
            accepted_from_data=accepted + kept_rules,
            constraints=rules,
        )
        return job.id, job.kind, job.modality

    job_id, kind, modality = await run_in_threadpool(accept)
    dispatcher.submit(job_id, kind, modality)
    flash(request, "schema accepted; the table is being checked against it")
    return redirect(f"/ui/sources/{source_id}")
