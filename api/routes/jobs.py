"""Jobs: request a synthetic dataset, follow it, cancel it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from api.auditing import note_object
from api.deps import (
    CurrentActor,
    DatabaseDep,
    DispatcherDep,
    SessionDep,
    SettingsDep,
    StewardActor,
    StoreDep,
)
from api.schemas import JSON_BODY_LIMIT, JobAccepted, JobCreate, JobPublic, Message, error_responses
from pipelines import jobs
from pipelines.auth import Actor
from pipelines.store.models import Job, Role

router = APIRouter(prefix="/jobs", tags=["jobs"], max_body_size=JSON_BODY_LIMIT)

ERRORS = error_responses(401, 403, 404)
JobStateName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKindName = Literal["synthesize", "sample", "check_source"]


def to_public(job: Job, actor: Actor) -> JobPublic:
    """ML engineers do not see sources (as in a release's view): their sample jobs show
    the release they sample, never the source behind it."""
    public = JobPublic.model_validate(job)
    if actor.role == Role.ml_engineer:
        public.source_id = None
    return public


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        **ERRORS,
        409: {
            "model": Message,
            "description": "the source's budget would be exceeded, or a quota of open jobs",
        },
    },
)
def create_job(
    request: Request,
    body: JobCreate,
    actor: StewardActor,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    store: StoreDep,
    response: Response,
) -> JobAccepted:
    """Request a synthetic dataset. The job's epsilon and delta are reserved in the
    source's ledger before any worker reads the data; 409 when the cap would be exceeded
    or the requester has as many open jobs as the service allows."""
    note_object(request, "source", body.source_id)
    job = jobs.create_synthesis_job(db, settings, actor, body, store=store)
    dispatcher.submit(job.id, job.kind, job.modality)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return JobAccepted(id=job.id, state=job.state)


@router.get("", response_model=list[JobPublic], responses=ERRORS)
def list_jobs(
    actor: CurrentActor,
    session: SessionDep,
    state: JobStateName | None = None,
    source_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: JobKindName | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> list[JobPublic]:
    """Jobs you may see: your own (stewards: also those on your sources); auditors and
    admins see all."""
    rows = jobs.list_jobs(
        session, actor, state=state, source_id=source_id, kind=kind, limit=limit, offset=offset
    )
    return [to_public(j, actor) for j in rows]


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS)
def get_job(job_id: str, actor: CurrentActor, session: SessionDep) -> JobPublic:
    """State, stage, progress (percent) and the epsilon spent so far; poll it."""
    return to_public(jobs.get_job(session, actor, job_id), actor)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={**ERRORS, **error_responses(409)},
)
def cancel_job(job_id: str, actor: CurrentActor, db: DatabaseDep) -> JobPublic:
    """A queued job is cancelled at once; a running job stops at its next step and pays
    for the steps that ran."""
    return to_public(jobs.cancel_job(db, actor, job_id), actor)


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={**ERRORS, **error_responses(409)},
)
def retry_job(
    job_id: str, actor: CurrentActor, db: DatabaseDep, dispatcher: DispatcherDep
) -> JobPublic:
    """Run a failed job again from the stage that failed (never trains twice)."""
    job = jobs.retry_job(db, actor, job_id)
    dispatcher.submit(job.id, job.kind, job.modality)
    return to_public(job, actor)
