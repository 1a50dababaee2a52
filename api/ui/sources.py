"""Sources (stewards: their own; auditors: all): upload, the budget gauge and cap, the
timeline of jobs and releases, requesting a dataset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, SettingsDep, StoreDep
from api.ui.core import (
    Csrf,
    PageRoute,
    SourcePage,
    StewardPage,
    flash,
    redirect,
    render,
)
from api.ui.forms import parse_class_counts, parse_rows
from pipelines import budgets, jobs, ledger, releases, sources
from pipelines.store.models import Role

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


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
    delta_budget: Annotated[float | None, Form(gt=0, lt=1)] = None,
    schema_file: Annotated[UploadFile | None, File(alias="schema")] = None,
    entity: Annotated[str | None, Form(max_length=210)] = None,
    max_records_per_entity: Annotated[int | None, Form()] = None,
) -> Response:
    """The fields of ``POST /v1/sources``. A table sent without a schema goes on to the
    review of its drafted schema."""
    if schema_file is not None and not schema_file.filename:
        schema_file = None  # the browser sends an empty part when no file was chosen
    form = sources.UploadForm(
        name=name,
        target=target or None,
        epsilon_budget=epsilon_budget,
        delta_budget=delta_budget,
        filename=file.filename or "upload",
        schema_filename=schema_file.filename if schema_file is not None else None,
        entity=entity or None,
        max_records_per_entity=max_records_per_entity,
    )
    source, job = sources.register_source(
        db,
        store,
        settings,
        actor=actor,
        form=form,
        data=file.file,
        schema_data=schema_file.file if schema_file is not None else None,
    )
    if job is not None:
        dispatcher.submit(job.id, job.kind, job.modality)
    if source.modality == "tabular" and schema_file is None:
        return redirect(f"/ui/sources/{source.id}/schema")
    return redirect(f"/ui/sources/{source.id}")


def budget_status(view: ledger.LedgerView) -> dict[str, Any]:
    """The budget gauge: shares of the cap (percent) and the figures as the page shows
    them; ``open_jobs``: reservations not settled yet (the gauge moves until it is 0)."""
    budget = view.epsilon_budget or 1.0
    spent = min(100.0, 100 * view.epsilon_spent / budget)
    reserved = min(100.0 - spent, 100 * view.epsilon_reserved / budget)
    return {
        "spent": spent,
        "reserved": reserved,
        "left": max(0.0, 100.0 - spent - reserved),
        "open_jobs": sum(1 for e in view.entries if e.state == "reserved"),
        "epsilon_budget": view.epsilon_budget,
        "epsilon_spent": view.epsilon_spent,
        "epsilon_reserved": view.epsilon_reserved,
        "epsilon_remaining": view.epsilon_remaining,
        "text": {
            "spent": f"{view.epsilon_spent:.4g}",
            "reserved": f"{view.epsilon_reserved:.4g}",
            "left": f"{view.epsilon_remaining:.4g}",
            "cap": f"{view.epsilon_budget:g}",
            "delta": f"{view.delta_spent + view.delta_reserved:.3g} of {view.delta_budget:.3g}",
        },
    }


@router.get("/sources/{source_id}/budget")
def budget_json(source_id: str, actor: SourcePage, session: SessionDep) -> Response:
    """What the source page's script polls while a job on the source is open (the
    session's cookie, not a key). The page's own view is audited as ``ledger.read``;
    these polls, which show the same totals, are not (one event a poll would bury the
    log)."""
    source = sources.get_source(session, actor, source_id)
    return JSONResponse(budget_status(ledger.view(session, source)))


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
    return render(
        request,
        "source.html",
        {
            "source": source,
            "ledger": view,
            "gauge": budget_status(view),
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
    dispatcher.submit(job.id, job.kind, job.modality)
    return redirect(f"/ui/jobs/{job.id}")
