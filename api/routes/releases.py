"""Releases: synthetic datasets with their DP certificates, approval, downloads, reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response, status
from fastapi.responses import FileResponse

from api.auditing import record_read
from api.deps import (
    DatabaseDep,
    DispatcherDep,
    MLEngineerActor,
    ReleaseReader,
    ReportReader,
    SessionDep,
    SettingsDep,
    StewardActor,
    StoreDep,
)
from api.schemas import (
    JSON_BODY_LIMIT,
    Decision,
    FilePublic,
    JobAccepted,
    ReleasePublic,
    SampleCreate,
    error_responses,
)
from pipelines import jobs, releases
from pipelines.auth import Actor
from pipelines.store.models import Release, Role

router = APIRouter(prefix="/releases", tags=["releases"], max_body_size=JSON_BODY_LIMIT)

ERRORS = error_responses(401, 403, 404)
DataFormat = Literal["csv", "parquet", "npz", "png_zip"]
ReportFormat = Literal["html", "pdf", "json"]
ReleaseStateName = Literal["pending", "approved", "rejected"]


def to_public(release: Release, actor: Actor) -> ReleasePublic:
    """ML engineers get the release without anything computed on, or pointing to, real
    data (no verdict, no report, no source or job)."""
    body = ReleasePublic(
        id=release.id,
        modality=release.modality,
        state=release.state,
        n_records=release.n_records,
        epsilon=release.epsilon,
        delta=release.delta,
        private=release.private,
        files={
            fmt: FilePublic(sha256=f["sha256"], size=f["size"]) for fmt, f in release.files.items()
        },
        seed=release.seed,
        class_counts=release.class_counts,
        parent_id=release.parent_id,
        created_at=release.created_at,
        decided_at=release.decided_at,
    )
    if actor.role in (Role.steward, Role.auditor):
        body.source_id = release.source_id
        body.job_id = release.job_id
        body.verdict = release.verdict
        body.report_formats = sorted(release.report) if release.report else []
        body.decided_by = release.decided_by
        body.decision_reason = release.decision_reason
    return body


@router.get("", response_model=list[ReleasePublic], responses=ERRORS)
def list_releases(
    actor: ReleaseReader,
    session: SessionDep,
    state: ReleaseStateName | None = None,
    source_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[ReleasePublic]:
    """ML engineers see approved releases only; stewards those of their sources."""
    rows = releases.list_releases(
        session, actor, state=state, source_id=source_id, limit=limit, offset=offset
    )
    return [to_public(r, actor) for r in rows]


@router.get("/{release_id}", response_model=ReleasePublic, responses=ERRORS)
def get_release(release_id: str, actor: ReleaseReader, session: SessionDep) -> ReleasePublic:
    return to_public(releases.get_release(session, actor, release_id), actor)


@router.post(
    "/{release_id}/approve",
    response_model=ReleasePublic,
    responses={**ERRORS, **error_responses(409)},
)
def approve_release(
    release_id: str,
    actor: StewardActor,
    db: DatabaseDep,
    decision: Annotated[Decision | None, Body()] = None,
) -> ReleasePublic:
    """Release the data to ML engineers (after reading its report). The approver is recorded."""
    reason = decision.reason if decision else None
    return to_public(releases.decide(db, actor, release_id, approve=True, reason=reason), actor)


@router.post(
    "/{release_id}/reject",
    response_model=ReleasePublic,
    responses={**ERRORS, **error_responses(409)},
)
def reject_release(
    release_id: str,
    actor: StewardActor,
    db: DatabaseDep,
    decision: Annotated[Decision | None, Body()] = None,
) -> ReleasePublic:
    reason = decision.reason if decision else None
    return to_public(releases.decide(db, actor, release_id, approve=False, reason=reason), actor)


@router.get(
    "/{release_id}/data",
    response_class=FileResponse,
    responses={
        **ERRORS,
        200: {
            "content": {"text/csv": {}, "application/vnd.apache.parquet": {}, "application/zip": {}}
        },
    },
)
def download_data(
    release_id: str,
    actor: ReleaseReader,
    db: DatabaseDep,
    store: StoreDep,
    format: DataFormat | None = None,
) -> FileResponse:
    """The synthetic data: CSV by default (?format=parquet); images as npz or png_zip."""
    download = releases.data_file(db, store, actor, release_id, format)
    return FileResponse(download.path, media_type=download.media_type, filename=download.filename)


@router.get("/{release_id}/certificate", responses=ERRORS)
def get_certificate(
    release_id: str, actor: ReleaseReader, session: SessionDep, db: DatabaseDep
) -> dict[str, Any]:
    """The DP certificate: unit, epsilon, delta, mechanisms, accountant, parameters."""
    release = releases.get_release(session, actor, release_id)
    record_read(db, actor, "certificate.read", "release", release.id, source_id=release.source_id)
    return release.certificate


@router.get(
    "/{release_id}/report",
    response_class=FileResponse,
    responses={
        **ERRORS,
        200: {"content": {"text/html": {}, "application/pdf": {}, "application/json": {}}},
    },
)
def get_report(
    release_id: str,
    actor: ReportReader,
    db: DatabaseDep,
    store: StoreDep,
    format: ReportFormat = "html",
) -> FileResponse:
    """The validation report, computed on real data: stewards and auditors only."""
    download = releases.report_file(db, store, actor, release_id, format)
    disposition = "inline" if format != "pdf" else "attachment"
    return FileResponse(
        download.path,
        media_type=download.media_type,
        filename=download.filename,
        content_disposition_type=disposition,
    )


@router.post(
    "/{release_id}/samples",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={**ERRORS, **error_responses(409)},
)
def request_samples(
    release_id: str,
    body: SampleCreate,
    actor: MLEngineerActor,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    response: Response,
) -> JobAccepted:
    """More records from an approved release's model. Sampling is post-processing: it
    costs no budget, and the new release carries the same certificate and approval."""
    job = jobs.create_sample_job(db, settings, actor, release_id, body)
    dispatcher.submit(job.id, job.kind, job.modality)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobAccepted(id=job.id, state=job.state)
