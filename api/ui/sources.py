"""Sources (stewards: their own; auditors: all): upload, schema review, budget, ledger,
timeline, requesting a dataset, and following a job."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, SettingsDep, StoreDep
from api.ui.core import (
    Csrf,
    PageActor,
    PageRoute,
    SourcePage,
    StewardPage,
    flash,
    redirect,
    render,
)
from pipelines import budgets, jobs, ledger, releases, schema_review, sources
from pipelines.errors import InvalidRequest
from pipelines.store.models import Role
from synthgen.tabular.schema import KINDS, ROLES

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

TERMINAL = ("succeeded", "failed", "cancelled")


@router.get("/sources", response_class=HTMLResponse)
def list_sources(request: Request, actor: SourcePage, session: SessionDep) -> Response:
    rows = sources.list_sources(session, actor, limit=200, offset=0)
    return render(request, "sources.html", {"sources": rows})


@router.post("/sources", dependencies=[Csrf])
def upload_source(
    actor: StewardPage,
    db: DatabaseDep,
    store: StoreDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    epsilon_budget: Annotated[float, Form(gt=0, le=1e6, allow_inf_nan=False)],
    target: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    form = sources.UploadForm(
        name=name,
        target=target or None,
        epsilon_budget=epsilon_budget,
        delta_budget=None,
        filename=file.filename or "upload",
    )
    source, job = sources.register_source(
        db, store, settings, actor=actor, form=form, data=file.file, schema_data=None
    )
    if job is not None:
        dispatcher.submit(job.id)
    if source.modality == "tabular":
        return redirect(f"/ui/sources/{source.id}/schema")
    return redirect(f"/ui/sources/{source.id}")


@router.get("/sources/{source_id}", response_class=HTMLResponse)
def source_page(
    request: Request, source_id: str, actor: SourcePage, session: SessionDep, db: DatabaseDep
) -> Response:
    source = sources.get_source(session, actor, source_id)
    view = ledger.view(session, source)
    source_jobs = jobs.list_jobs(session, actor, source_id=source.id, limit=200)
    source_releases = releases.list_releases(
        session, actor, state=None, source_id=source.id, limit=200, offset=0
    )
    record_read(db, actor, "ledger.read", "source", source.id)
    timeline: list[dict[str, Any]] = [
        {"at": j.created_at, "what": "job", "item": j} for j in source_jobs
    ] + [{"at": r.created_at, "what": "release", "item": r} for r in source_releases]
    timeline.sort(key=lambda e: e["at"], reverse=True)
    budget = view.epsilon_budget or 1.0
    gauge = {
        "spent": min(100.0, 100 * view.epsilon_spent / budget),
        "reserved": min(100.0, 100 * view.epsilon_reserved / budget),
    }
    gauge["left"] = max(0.0, 100.0 - gauge["spent"] - gauge["reserved"])
    return render(
        request,
        "source.html",
        {
            "source": source,
            "ledger": view,
            "gauge": gauge,
            "timeline": timeline,
            "is_owner": actor.role == Role.steward,
        },
    )


@router.post("/sources/{source_id}/budget", dependencies=[Csrf])
def set_budget(
    request: Request,
    source_id: str,
    actor: StewardPage,
    db: DatabaseDep,
    epsilon_budget: Annotated[float, Form(gt=0, le=1e6, allow_inf_nan=False)],
) -> Response:
    budgets.set_budget(db, actor, source_id, epsilon_budget=epsilon_budget)
    flash(request, f"budget set to epsilon {epsilon_budget:g}")
    return redirect(f"/ui/sources/{source_id}")


@router.post("/sources/{source_id}/jobs", dependencies=[Csrf])
def request_dataset(
    source_id: str,
    actor: StewardPage,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    epsilon: Annotated[float, Form(gt=0, le=1e6, allow_inf_nan=False)],
    seed: Annotated[int, Form(ge=0, le=2**63 - 1)] = 0,
    rows: Annotated[str, Form(max_length=20)] = "",
    class_counts: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    counts = parse_class_counts(class_counts)
    job = jobs.create_synthesis_job(
        db,
        settings,
        actor,
        jobs.SynthesisRequest(
            source_id=source_id,
            epsilon=epsilon,
            seed=seed,
            rows=parse_rows(rows),
            class_counts=counts,
        ),
    )
    dispatcher.submit(job.id)
    return redirect(f"/ui/jobs/{job.id}")


def parse_rows(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) <= 10**9:
        raise InvalidRequest("rows must be a whole number from 1 to 1,000,000,000")
    return int(text)


def parse_class_counts(text: str) -> dict[str, int] | None:
    """``0=150, 1=150`` (a label and its record count, separated by commas)."""
    text = text.strip()
    if not text:
        return None
    counts: dict[str, int] = {}
    for part in text.split(","):
        label, sep, count = part.partition("=")
        if not sep or not label.strip() or not count.strip().isdigit():
            raise InvalidRequest("class counts are written LABEL=COUNT, separated by commas")
        counts[label.strip()] = int(count.strip())
    return counts


# -- schema review ------------------------------------------------------------------------
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
    return render(
        request,
        "schema.html",
        {
            "source_id": source_id,
            "draft": drafted,
            "columns": columns,
            "kinds": KINDS,
            "roles": ROLES,
            "editable": actor.role == Role.steward and not drafted.accepted,
        },
    )


def _number(text: str, what: str) -> float | int | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"{what} must be a number") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"{what} must be a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _category(text: str, numeric: bool) -> str | int | float:
    if numeric:
        number = _number(text, "a category")
        if number is not None:
            return number
    return text


def columns_from_form(form: Any, count: int, drafted: list[Any]) -> list[dict[str, Any]]:
    columns = []
    for i in range(count):
        name = drafted[i].fields["name"]
        role = str(form.get(f"col-{i}-role", "feature"))
        column: dict[str, Any] = {"name": name}
        if role in ("identifier", "entity"):
            column["role"] = role
            columns.append(column)
            continue
        column["kind"] = str(form.get(f"col-{i}-kind", "categorical"))
        if role != "feature":
            column["role"] = role
        for field in ("min", "max"):
            value = _number(str(form.get(f"col-{i}-{field}", "")), f"{name} {field}")
            if value is not None:
                column[field] = value
        categories = str(form.get(f"col-{i}-categories", "")).strip()
        if categories:
            numeric = all(
                isinstance(v, int | float) for v in drafted[i].fields.get("categories") or ["x"]
            )
            column["categories"] = [
                _category(c.strip(), numeric) for c in categories.split(",") if c.strip()
            ]
        column["nullable"] = form.get(f"col-{i}-nullable") == "on"
        columns.append(column)
    return columns


@router.post("/sources/{source_id}/schema", dependencies=[Csrf])
async def accept_schema(
    request: Request,
    source_id: str,
    actor: StewardPage,
    db: DatabaseDep,
    store: StoreDep,
    dispatcher: DispatcherDep,
) -> Response:
    from starlette.concurrency import run_in_threadpool

    form = await request.form()

    def accept() -> str:
        with db.session() as session:
            drafted = schema_review.draft(session, store, actor, source_id)
        columns = columns_from_form(form, len(drafted.columns), drafted.columns)
        accept_all = form.get("accept-all") == "on"
        accepted = [
            f"{c.fields['name']}.{field}"
            for i, c in enumerate(drafted.columns)
            for field in c.drawn
            if accept_all or form.get(f"accept-{i}-{field}") == "on"
        ]
        _source, job = schema_review.accept_schema(
            db, store, actor, source_id, columns=columns, accepted_from_data=accepted
        )
        return job.id

    job_id = await run_in_threadpool(accept)
    dispatcher.submit(job_id)
    flash(request, "schema accepted; the table is being checked against it")
    return redirect(f"/ui/sources/{source_id}")


# -- jobs ---------------------------------------------------------------------------------
def job_status(job: Any, actor: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state,
        "stage": job.stage,
        "progress": round(job.progress or 0.0, 1),
        "epsilon_reserved": job.epsilon_reserved,
        "epsilon_spent": job.epsilon_spent,
        "release_id": job.release_id,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "terminal": job.state in TERMINAL,
    }


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, actor: PageActor, session: SessionDep) -> Response:
    job = jobs.get_job(session, actor, job_id)
    return render(
        request,
        "job.html",
        {
            "job": job,
            "status": job_status(job, actor),
            "show_source": actor.role != Role.ml_engineer,
            "can_cancel": actor.role != Role.auditor and job.state not in TERMINAL,
        },
    )


@router.get("/jobs/{job_id}/status")
def job_status_json(job_id: str, actor: PageActor, session: SessionDep) -> Response:
    """What the job page's script polls (the session's cookie, not a key)."""
    return JSONResponse(job_status(jobs.get_job(session, actor, job_id), actor))


@router.post("/jobs/{job_id}/cancel", dependencies=[Csrf])
def cancel_job(request: Request, job_id: str, actor: PageActor, db: DatabaseDep) -> Response:
    jobs.cancel_job(db, actor, job_id)
    flash(request, "cancel requested")
    return redirect(f"/ui/jobs/{job_id}")
