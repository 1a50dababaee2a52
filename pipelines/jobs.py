"""Creating, reading and cancelling jobs (the API's side of the job table).

A synthesis job is created together with its ledger reservation, in one write
transaction: either both exist or neither does. Workers pick jobs up from the table
(``pipelines.leases``); the dispatcher only tells them sooner.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pipelines import audit, ledger
from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor
from pipelines.errors import Conflict, Forbidden, InvalidRequest, NotFound, QuotaExceeded
from pipelines.settings import Settings
from pipelines.sources import default_job_delta_reservation
from pipelines.specs import (
    ImageSynthesisSpec,
    SampleSpec,
    TabularSynthesisSpec,
    TrainingParameters,
    dump_spec,
)
from pipelines.store.db import Database
from pipelines.store.models import (
    TERMINAL_JOB_STATES,
    Job,
    JobKind,
    JobState,
    Release,
    ReleaseState,
    Role,
    Source,
    SourceState,
    User,
    new_id,
    utcnow,
)
from synthgen.requests import Delta, MaxSteps, SampleChoices, finite_epsilon


class SampleRequest(SampleChoices):
    """More records from a release (``POST /v1/releases/{id}/samples``): the library's
    sampling choices, with the step count under its HTTP name."""

    steps: int | None = Field(
        default=None, gt=0, le=10_000, alias="sampling_steps", description="images only"
    )


class SynthesisRequest(SampleRequest):
    """A synthetic dataset (``POST /v1/jobs``): train on a source, then sample."""

    source_id: str = Field(min_length=1, max_length=64)
    # the library's rule for a released model's epsilon, under the service's cap (1e6)
    epsilon: Annotated[
        float,
        Field(le=1e6, json_schema_extra={"exclusiveMinimum": 0}),
        AfterValidator(finite_epsilon),
    ] = Field(description="privacy budget of this model")
    delta: Delta | None = Field(
        default=None,
        description=("default min(1e-5, 1/(10 N), a tenth of the source's delta budget)"),
    )
    target: str | None = Field(
        default=None, min_length=1, max_length=200, description="default: the source's target"
    )
    max_steps: Annotated[MaxSteps, Field(le=10**7)] | None = Field(
        default=None, description="cap on DP-SGD steps"
    )
    accept_infeasible: bool = Field(
        default=False,
        description=(
            "tables: train even when the feasibility estimate says the output would be "
            "dominated by noise (otherwise 422 at request time, or a failed job after the "
            "DP record count)"
        ),
    )


def _rows(settings: Settings, req: SampleChoices) -> int:
    assert req.rows is not None  # the request's own check filled it in
    if req.rows > settings.max_sample_rows:
        raise InvalidRequest(f"at most {settings.max_sample_rows} records per request")
    return req.rows


def _check_quota(session: Session, settings: Settings, actor: Actor, rows: int) -> None:
    """Refuse a job (QuotaExceeded, 409) when its requester has too many open jobs, or
    asks for too many records across them: sampling costs no budget, so without this one
    user could queue unbounded free work. Takes a row lock on the user (PostgreSQL; on
    SQLite the write transaction holds the database lock), so concurrent requests of one
    user are counted one after the other."""
    if not (settings.max_open_jobs_per_user or settings.max_open_rows_per_user):
        return
    session.scalar(select(User.id).where(User.id == actor.id).with_for_update())
    specs = session.scalars(
        select(Job.spec).where(
            Job.created_by == actor.id,
            Job.kind.in_((JobKind.synthesize, JobKind.sample)),
            Job.state.in_((JobState.queued, JobState.running)),
        )
    ).all()
    limit = settings.max_open_jobs_per_user
    if limit and len(specs) >= limit:
        raise QuotaExceeded(
            f"you have {len(specs)} open jobs (queued or running), the most this service "
            "allows; wait for one to end or cancel one"
        )
    limit = settings.max_open_rows_per_user
    open_rows = sum(int(spec.get("rows") or 0) for spec in specs)
    if limit and open_rows + rows > limit:
        raise QuotaExceeded(
            f"your open jobs ask for {open_rows} records and this one for {rows}; the most "
            f"this service allows in open jobs is {limit} per user"
        )


def create_synthesis_job(
    db: Database,
    settings: Settings,
    actor: Actor,
    req: SynthesisRequest,
    *,
    store: ArtifactStore | None = None,
) -> Job:
    """Reserve the budget and queue a job; raises PrivacyBudgetExceeded (nothing written)
    when the source's cap would be exceeded."""
    if actor.role != Role.steward:
        raise Forbidden("only data stewards request synthetic datasets")
    rows = _rows(settings, req)
    max_steps = req.max_steps
    if settings.train_max_steps is not None:
        max_steps = min(max_steps or settings.train_max_steps, settings.train_max_steps)
    with db.transaction(write=True) as session:
        source = ledger.lock_source(session, req.source_id)
        if source.owner_id != actor.id:
            raise NotFound(f"no source {req.source_id}")
        _check_quota(session, settings, actor, rows)
        if source.state == SourceState.rejected:
            raise Conflict(
                f"source {source.id} was rejected by validation; upload a corrected file"
            )
        # no delta given: the trainer chooses it from the run's public record count, and
        # the ledger reserves an upper bound of that choice (sources.default_job_delta_reservation)
        patient_level = req.delta is None and _declares_entity(source, store)
        reserved = (
            req.delta
            if req.delta is not None
            else PATIENT_DELTA_RESERVATION
            if patient_level
            else default_job_delta_reservation(source.n_records)
        )
        # a patient-level default delta is below 1 / (patients), which the API cannot know
        if not patient_level and not 0 < reserved < 1.0 / source.n_records:
            raise InvalidRequest(
                f"delta must be in (0, 1/N) = (0, {1.0 / source.n_records:.3g}) for this source"
            )
        # the trainers of the two modalities take different options
        overrides = (
            settings.train_overrides
            if source.modality == "tabular"
            else settings.image_train_overrides
        )
        training = TrainingParameters(
            epsilon=req.epsilon,
            delta=req.delta,
            seed=req.seed,
            max_steps=max_steps,
            holdout=settings.holdout,
            overrides=dict(overrides),
            accept_infeasible=(
                True if req.accept_infeasible and source.modality == "tabular" else None
            ),
        )
        spec: TabularSynthesisSpec | ImageSynthesisSpec
        sampling = req.sample_options().model_dump(exclude={"rows"})
        if source.modality == "tabular":
            target = req.target or source.target
            if not target or target not in (source.columns or []):
                raise InvalidRequest(f"target column {target!r} is not in source {source.id}")
            req.check_modality(source.modality, spell=str)
            if store is not None and source.schema_ref and not req.accept_infeasible:
                check_feasibility(store.resolve(source.schema_ref), target, training)
            spec = TabularSynthesisSpec(
                **sampling, source_id=source.id, target=target, training=training, rows=rows
            )
        else:
            critic_asked = (req.candidates or 1) > 1 or (req.critic_guidance or 0) > 0
            if critic_asked and overrides.get("critic_epsilon_share", 1) == 0:
                raise InvalidRequest(
                    "candidates > 1 and critic_guidance > 0 need a class critic, which this "
                    "service's image training overrides switch off (critic_epsilon_share = 0)"
                )
            if critic_asked and source.entity is not None:
                raise InvalidRequest(
                    "candidates > 1 and critic_guidance > 0 need a class critic, which a "
                    "patient-level image run does not train (it learns from single images)"
                )
            # the source's patient-level declaration travels with the job (fixed with the
            # reservation, whatever happens to the source later)
            spec = ImageSynthesisSpec(
                **sampling,
                source_id=source.id,
                training=training,
                rows=rows,
                entity=source.entity,
                max_records_per_entity=source.max_records_per_entity,
            )
        job = Job(
            id=new_id(),
            kind=JobKind.synthesize,
            modality=source.modality,
            source_id=source.id,
            created_by=actor.id,
            spec=dump_spec(spec),
            state=JobState.queued,
            epsilon_reserved=req.epsilon,
            delta_reserved=reserved,
            outputs={},
        )
        session.add(job)
        session.flush()
        ledger.reserve(session, source=source, job_id=job.id, epsilon=req.epsilon, delta=reserved)
        audit.record(
            session,
            actor,
            "job.create",
            "job",
            job.id,
            {
                "kind": job.kind,
                "source_id": source.id,
                "epsilon": req.epsilon,
                "delta": req.delta,
                "delta_reserved": reserved,
                "rows": rows,
                "seed": req.seed,
            },
            source_id=source.id,
        )
    return job


def create_sample_job(
    db: Database, settings: Settings, actor: Actor, release_id: str, req: SampleRequest
) -> Job:
    """More records from an approved release's model: post-processing, no budget."""
    if actor.role != Role.ml_engineer:
        raise Forbidden("only ML engineers request more samples")
    rows = _rows(settings, req)
    with db.transaction(write=True) as session:
        release = session.get(Release, release_id)
        if release is None or release.state != ReleaseState.approved:
            raise NotFound(f"no approved release {release_id}")
        if not release.private:
            raise Conflict(f"release {release_id} is not differentially private")
        _check_quota(session, settings, actor, rows)
        req.check_modality(release.modality, spell=str)
        spec = SampleSpec(
            **req.sample_options().model_dump(exclude={"rows"}), release_id=release.id, rows=rows
        )
        job = Job(
            id=new_id(),
            kind=JobKind.sample,
            modality=release.modality,
            source_id=release.source_id,
            parent_release_id=release.id,
            created_by=actor.id,
            spec=dump_spec(spec),
            state=JobState.queued,
            outputs={},
        )
        session.add(job)
        audit.record(
            session,
            actor,
            "release.sample",
            "release",
            release.id,
            {"job_id": job.id, "rows": rows, "seed": req.seed},
            source_id=release.source_id,
        )
    return job


# -- reading ---------------------------------------------------------------------------------
def _visible(session: Session, actor: Actor, job: Job) -> bool:
    if actor.role in (Role.admin, Role.auditor) or job.created_by == actor.id:
        return True
    if actor.role == Role.steward and job.source_id is not None and job.kind != JobKind.sample:
        owner = session.scalar(select(Source.owner_id).where(Source.id == job.source_id))
        return owner == actor.id
    return False


def get_job(session: Session, actor: Actor, job_id: str, *, for_update: bool = False) -> Job:
    stmt = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    if for_update:
        stmt = stmt.with_for_update()
    job = session.scalar(stmt)
    if job is None or not _visible(session, actor, job):
        raise NotFound(f"no job {job_id}")
    return job


def list_jobs(
    session: Session,
    actor: Actor,
    *,
    state: str | None = None,
    source_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Job]:
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id)
    if actor.role == Role.steward:
        owned = select(Source.id).where(Source.owner_id == actor.id)
        stmt = stmt.where(
            or_(
                Job.created_by == actor.id,
                (Job.source_id.in_(owned)) & (Job.kind != JobKind.sample),
            )
        )
    elif actor.role == Role.ml_engineer:
        if source_id:  # a filter would tell which source a release came from
            raise Forbidden("ML engineers do not see sources; this filter is not available")
        stmt = stmt.where(Job.created_by == actor.id)
    if state:
        stmt = stmt.where(Job.state == state)
    if source_id:
        stmt = stmt.where(Job.source_id == source_id)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    return list(session.scalars(stmt.limit(limit).offset(offset)).all())


# -- changing --------------------------------------------------------------------------------
def cancel_job(db: Database, actor: Actor, job_id: str) -> Job:
    """A job that never ran is cancelled at once (and its reservation settled at zero); a
    job that ran is flagged, and the worker that holds it (or picks it up next) stops it
    and settles what its steps spent."""
    if actor.role == Role.auditor:
        raise Forbidden("auditors have read-only access")
    with db.transaction(write=True) as session:
        job = get_job(session, actor, job_id, for_update=True)
        if job.state in TERMINAL_JOB_STATES:
            raise Conflict(f"job {job_id} has already {job.state}")
        now = utcnow()
        if job.state == JobState.queued and job.attempts == 0:
            job.state = JobState.cancelled
            job.finished_at = now
            job.epsilon_spent = 0.0
            ledger.settle(
                session,
                job_id=job.id,
                epsilon_spent=0.0,
                delta_spent=0.0,
                note="cancelled before any data was read",
                actor=actor,
            )
        else:
            job.cancel_requested = True
        job.updated_at = now
        audit.record(
            session,
            actor,
            "job.cancel",
            "job",
            job.id,
            {"state": job.state},
            source_id=job.source_id,
        )
    return job


def retry_job(db: Database, actor: Actor, job_id: str) -> Job:
    """Queue a failed job again. Stages that finished are not run again; in particular a
    job whose training finished is not trained (nor charged) a second time. A job that
    failed before its training finished has settled its spend; retrying it would spend
    again, so it needs a new job (and a new reservation) instead."""
    if actor.role not in (Role.steward, Role.admin):
        raise Forbidden("only stewards and admins retry jobs")
    with db.transaction(write=True) as session:
        job = get_job(session, actor, job_id, for_update=True)
        if job.state != JobState.failed:
            raise Conflict(f"job {job_id} is {job.state}; only failed jobs can be retried")
        if job.kind == JobKind.check_source:
            raise Conflict("a source that failed validation must be uploaded again")
        if job.kind == JobKind.synthesize and not job.outputs.get("train", {}).get("done"):
            raise Conflict(
                f"job {job_id} failed before its training finished and has paid for the steps "
                "that ran; request a new job instead"
            )
        job.state = JobState.queued
        job.error = None
        job.attempts = 0
        job.cancel_requested = False
        job.finished_at = None
        job.updated_at = utcnow()
        audit.record(session, actor, "job.retry", "job", job.id, {}, source_id=job.source_id)
    return job


# A patient-level run's default delta is min(1e-5, 1/(10 N-hat)) with N-hat a count of
# PATIENTS (synthgen.privacy.record_count), which the service does not know: 1/(5 N) of the
# rows would reserve less than it spends whenever the patients are fewer than half the
# rows. 1e-5 bounds the trainer's choice whatever the count.
PATIENT_DELTA_RESERVATION = 1e-5


def _declares_entity(source: Source, store: ArtifactStore | None) -> bool:
    """Whether a source's jobs train at patient level: an image source declared with a
    patient id source, or a table whose schema names a patient column (``role: entity``,
    synthgen.tabular.train)."""
    if source.modality == "image":
        return source.entity is not None
    if store is None or not source.schema_ref:
        return False
    from synthgen.errors import SchemaError
    from synthgen.tabular.schema import Schema

    try:
        return Schema.load(store.resolve(source.schema_ref)).entity is not None
    except (SchemaError, OSError):  # the job fails on it later, with its own error
        return False


def check_feasibility(schema_path: Path, target: str, training: TrainingParameters) -> None:
    """The feasibility estimate at request time, from public facts only: the source's
    schema with its declared ``public_record_count``, and the requested budget. Raises
    InvalidRequest (422) with the reasons when it says infeasible. Without a declared
    count the service cannot know N without the data: the worker's training run makes the
    same check right after its DP record count (synthgen.tabular.train)."""
    from synthgen.privacy.record_count import declared_record_count
    from synthgen.tabular import feasibility
    from synthgen.tabular.config import TabularTrainingConfig
    from synthgen.tabular.schema import Schema

    schema = Schema.load(schema_path)
    if schema.public_record_count is None:
        return
    schema = schema.with_target(target)
    config = TabularTrainingConfig().with_overrides(training.overrides)
    if config.public_record_count is not None:
        schema = replace(schema, public_record_count=config.public_record_count)
    declared = schema.public_record_count
    assert declared is not None
    found = feasibility.estimate(
        schema,
        epsilon=training.epsilon,
        delta=training.delta,
        record_count=declared_record_count(max(1, round(declared * (1 - training.holdout)))),
        config=config,
        max_steps=training.max_steps,
    )
    if found.verdict == feasibility.INFEASIBLE:
        raise InvalidRequest(
            f"{found.summary()}; nothing was spent; to go ahead anyway: accept_infeasible: true"
        )
