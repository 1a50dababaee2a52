"""Reviewing the schema drafted from a table (stewards; auditors read it).

A refused form (a bad bound, a malformed rule, a drawn value left unaccepted) comes back
as the page, with what the steward typed and the reason, so that nothing is typed twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, StoreDep
from api.errors import status_for
from api.ui.core import (
    Csrf,
    PageRoute,
    SourcePage,
    StewardPage,
    flash,
    redirect,
    refusal,
    render,
)
from api.ui.forms import columns_from_form, constraints_from_form
from pipelines import schema_review
from pipelines.auth import Actor
from pipelines.store.models import Role
from synthgen.errors import SynthgenError
from synthgen.tabular.constraint_parsing import parse_constraints
from synthgen.tabular.schema import KINDS, ROLES

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

# a column's text inputs, named col-I-FIELD in the form
TYPED_FIELDS = ("min", "max", "decimals", "categories")
# a status the steward fixes by editing the form; any other refusal is the error page
FORM_REFUSED = 422


def _column_values(
    column: schema_review.DraftColumn, i: int, posted: FormData | None
) -> dict[str, Any]:
    """What column ``i``'s inputs show: the draft's values, or the ones posted."""
    fields = column.fields
    if posted is None:
        typed = {field: str(fields.get(field, "")) for field in TYPED_FIELDS}
        typed["categories"] = ", ".join(str(v) for v in fields.get("categories") or [])
        return {
            **typed,
            "role": fields.get("role", "feature"),
            "kind": fields.get("kind"),
            "nullable": bool(fields.get("nullable")),
            "accepted": (),
        }
    return {
        **{field: str(posted.get(f"col-{i}-{field}", "")) for field in TYPED_FIELDS},
        "role": posted.get(f"col-{i}-role"),
        "kind": posted.get(f"col-{i}-kind"),
        "nullable": posted.get(f"col-{i}-nullable") == "on",
        "accepted": [f for f in column.drawn if posted.get(f"accept-{i}-{f}") == "on"],
    }


def _page(
    request: Request,
    source_id: str,
    actor: Actor,
    drafted: schema_review.Draft,
    posted: FormData | None = None,
    refused: SynthgenError | None = None,
) -> HTMLResponse:
    """The review page; with ``posted``, the form as the steward sent it and why it was
    refused."""
    columns = [
        {"fields": c.fields, "drawn": c.drawn, "shown": _column_values(c, i, posted)}
        for i, c in enumerate(drafted.columns)
    ]
    rules = [
        {
            "text": parse_constraints([r.fields], "the draft")[0].describe(),
            "drawn": bool(r.drawn),
            "rows_breaking": r.rows_breaking,
            "rows_compared": r.rows_compared,
            "kept": drafted.accepted if posted is None else posted.get(f"rule-{j}-keep") == "on",
        }
        for j, r in enumerate(drafted.constraints)
    ]
    status, detail, problems = refusal(request, refused) if refused else (200, "", [])
    return render(
        request,
        "schema.html",
        {
            "source_id": source_id,
            "draft": drafted,
            "columns": columns,
            "rules": rules,
            "rules_added": str(posted.get("rules-added", "")) if posted else "",
            "accept_all": posted is not None and posted.get("accept-all") == "on",
            "refusal": detail,
            "problems": problems,
            "kinds": KINDS,
            "roles": ROLES,
            "editable": actor.role == Role.steward and not drafted.accepted,
        },
        status_code=status,
    )


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
    return _page(request, source_id, actor, drafted)


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

    def draft() -> schema_review.Draft:
        with db.session() as session:
            return schema_review.draft(session, store, actor, source_id)

    def accept(drafted: schema_review.Draft) -> tuple[str, str, str | None]:
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

    drafted = await run_in_threadpool(draft)
    try:
        job_id, kind, modality = await run_in_threadpool(accept, drafted)
    except SynthgenError as exc:
        if status_for(exc) != FORM_REFUSED:
            raise
        # the page shows the draft again: read like the page itself
        await run_in_threadpool(
            record_read, db, actor, "schema.read", "source", source_id, source_id=source_id
        )
        return _page(request, source_id, actor, drafted, posted=form, refused=exc)
    dispatcher.submit(job_id, kind, modality)
    flash(request, "schema accepted; the table is being checked against it")
    return redirect(f"/ui/sources/{source_id}")
