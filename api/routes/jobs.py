"""Jobs: request a synthetic dataset, follow it, cancel it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.deps import CurrentActor, DatabaseDep, DispatcherDep, SessionDep, SettingsDep, StewardActor
from api.schemas import JSON_BODY_LIMIT, JobAccepted, JobCreate, JobPublic, Message, error_responses
from pipelines import jobs

router = APIRouter(prefix="/jobs", tags=["jobs"], max_body_size=JSON_BODY_LIMIT)

ERRORS = error_responses(401, 403, 404)
JobStateName = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKindName = Literal["synthesize", "sample", "check_source"]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        **ERRORS,
        409: {"model": Message, "description": "the source's budget would be exceeded"},
    },
)
def create_job(
    body: JobCreate,
    actor: StewardActor,
    db: DatabaseDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    response: Response,
) -> JobAccepted:
    """Request a synthetic dataset. The job's epsilon and delta are reserved in the
    source's ledger before any worker reads the data; 409 when the cap would be exceeded."""
    job = jobs.create_synthesis_job(
        db,
        settings,
        actor,
        jobs.SynthesisRequest(
            source_id=body.source_id,
            epsilon=body.epsilon,
            seed=body.seed,
            rows=body.rows,
            class_counts=body.class_counts,
            delta=body.delta,
            target=body.target,
            max_steps=body.max_steps,
            guidance_scale=body.guidance_scale,
            sampling_steps=body.sampling_steps,
            candidates=body.candidates,
            critic_guidance=body.critic_guidance,
        ),
    )
    dispatcher.submit(job.id)
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
    return [JobPublic.model_validate(j) for j in rows]


@router.get("/{job_id}", response_model=JobPublic, responses=ERRORS)
def get_job(job_id: str, actor: CurrentActor, session: SessionDep) -> JobPublic:
    """State, stage, progress (percent) and the epsilon spent so far; poll it."""
    return JobPublic.model_validate(jobs.get_job(session, actor, job_id))


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses={**ERRORS, **error_responses(409)},
)
def cancel_job(job_id: str, actor: CurrentActor, db: DatabaseDep) -> JobPublic:
    """A queued job is cancelled at once; a running job stops at its next step and pays
    for the steps that ran."""
    return JobPublic.model_validate(jobs.cancel_job(db, actor, job_id))


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
    dispatcher.submit(job.id)
    return JobPublic.model_validate(job)
