"""Releases: review and decision (stewards), approved data with its certificate (ML
engineers), reports, certificates and validation JSON (auditors)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from api.auditing import record_read
from api.deps import DatabaseDep, DispatcherDep, SessionDep, SettingsDep, StoreDep
from api.ui.core import (
    Csrf,
    MLEngineerPage,
    PageRoute,
    ReleasePage,
    ReportPage,
    StewardPage,
    flash,
    redirect,
    render,
)
from api.ui.forms import parse_class_counts, parse_rows
from pipelines import jobs, releases
from pipelines.store.models import Role

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

# the embedded report is a document of its own: no script, styles inline, framed only here
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
)


@router.get("/releases", response_class=HTMLResponse)
def list_releases(
    request: Request,
    actor: ReleasePage,
    session: SessionDep,
    state: Literal["pending", "approved", "rejected"] | None = None,
) -> Response:
    rows = releases.list_releases(session, actor, state=state, source_id=None, limit=200, offset=0)
    return render(request, "releases.html", {"releases": rows, "state": state})


@router.get("/releases/{release_id}", response_class=HTMLResponse)
def release_page(
    request: Request, release_id: str, actor: ReleasePage, session: SessionDep, db: DatabaseDep
) -> Response:
    release = releases.get_release(session, actor, release_id)
    certificate = release.certificate or {}
    record_read(db, actor, "certificate.read", "release", release.id, source_id=release.source_id)
    private_view = actor.role in (Role.steward, Role.auditor)
    return render(
        request,
        "release.html",
        {
            "release": release,
            "certificate": certificate,
            "private_view": private_view,
            "report_formats": sorted(release.report or {}) if private_view else [],
            "can_decide": actor.role == Role.steward and release.state == "pending",
            "can_sample": actor.role == Role.ml_engineer,
            "formats": sorted(release.files),
        },
    )


@router.get("/releases/{release_id}/certificate")
def get_certificate(
    release_id: str, actor: ReleasePage, session: SessionDep, db: DatabaseDep
) -> Response:
    release = releases.get_release(session, actor, release_id)
    record_read(db, actor, "certificate.read", "release", release.id, source_id=release.source_id)
    return JSONResponse(release.certificate)


@router.get("/releases/{release_id}/data")
def download_data(
    release_id: str,
    actor: ReleasePage,
    db: DatabaseDep,
    store: StoreDep,
    format: Literal["csv", "parquet", "npz", "png_zip"] | None = None,
) -> Response:
    file = releases.data_file(db, store, actor, release_id, format)
    return FileResponse(file.path, media_type=file.media_type, filename=file.filename)


@router.get("/releases/{release_id}/report")
def get_report(
    release_id: str,
    actor: ReportPage,
    db: DatabaseDep,
    store: StoreDep,
    format: Literal["html", "pdf", "json"] = "html",
) -> Response:
    """The report as a document the release page frames (html) or links (json, pdf)."""
    file = releases.report_file(db, store, actor, release_id, format)
    headers = {"Content-Security-Policy": REPORT_CSP, "X-Frame-Options": "SAMEORIGIN"}
    disposition = "attachment" if format == "pdf" else "inline"
    return FileResponse(
        file.path,
        media_type=file.media_type,
        filename=file.filename,
        headers=headers,
        content_disposition_type=disposition,
    )


@router.post("/releases/{release_id}/decision", dependencies=[Csrf])
def decide(
    request: Request,
    release_id: str,
    actor: StewardPage,
    db: DatabaseDep,
    decision: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    approve = decision == "approve"
    releases.decide(db, actor, release_id, approve=approve, reason=reason.strip() or None)
    flash(request, "release approved" if approve else "release rejected")
    return redirect(f"/ui/releases/{release_id}")


@router.post("/releases/{release_id}/samples", dependencies=[Csrf])
def request_samples(
    release_id: str,
    actor: MLEngineerPage,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    seed: Annotated[int, Form(ge=0, le=2**63 - 1)] = 0,
    rows: Annotated[str, Form(max_length=20)] = "",
    class_counts: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    job = jobs.create_sample_job(
        db,
        settings,
        actor,
        release_id,
        jobs.SampleRequest(
            rows=parse_rows(rows), seed=seed, class_counts=parse_class_counts(class_counts)
        ),
    )
    dispatcher.submit(job.id, job.kind, job.modality)
    return redirect(f"/ui/jobs/{job.id}")
