"""Job leases: how a worker takes a job from the job table and keeps it.

A worker claims a job with one conditional UPDATE (queued, or running under a lease that
expired), which is atomic on SQLite and PostgreSQL alike, so two workers never both run a
job. While it runs, the worker renews the lease; if it dies (SIGKILL, a lost machine), the
lease runs out and the next worker to look claims the job and resumes it from the stages
and checkpoint it left. Every write a worker makes to its job is guarded by its lease, so
a worker that lost its lease (paused too long) cannot overwrite the new holder's work.

This is bookkeeping on the job table, not a queue: with the Celery executor, the broker
delivers jobs and the lease only fences duplicate deliveries and crashed workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from pipelines.store.db import Database
from pipelines.store.models import Job, JobState, utcnow


class LeaseLost(Exception):
    """Another worker holds this job now; stop without writing."""


@dataclass(frozen=True)
class Claim:
    job_id: str
    worker_id: str
    attempt: int


def _claimable(now: datetime) -> Any:
    return or_(
        Job.state == JobState.queued,
        and_(Job.state == JobState.running, Job.lease_expires_at < now),
    )


def claim(db: Database, job_id: str, *, worker_id: str, lease_seconds: float) -> Claim | None:
    now = utcnow()
    with db.transaction(write=True) as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, _claimable(now))
            .values(
                state=JobState.running,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Job.attempts + 1,
                started_at=func.coalesce(Job.started_at, now),
                updated_at=now,
            )
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        attempt = session.scalar(select(Job.attempts).where(Job.id == job_id))
    return Claim(job_id=job_id, worker_id=worker_id, attempt=int(attempt or 1))


def claimable_jobs(db: Database, *, limit: int = 20, queued_for: float | None = None) -> list[str]:
    """Jobs a worker could claim now, oldest first: queued, or running under an expired
    lease (their worker was lost). ``queued_for``: only queued jobs created at least this
    many seconds ago (a sweep that should not race fresh submissions)."""
    jobs = claimable_jobs_routed(db, limit=limit, queued_for=queued_for)
    return [job_id for job_id, *_ in jobs]


def claimable_jobs_routed(
    db: Database, *, limit: int = 20, queued_for: float | None = None
) -> list[tuple[str, str, str | None]]:
    """``claimable_jobs`` with each job's kind and modality (what routes it to a queue)."""
    now = utcnow()
    queued = Job.state == JobState.queued
    if queued_for is not None:
        queued = and_(queued, Job.created_at < now - timedelta(seconds=queued_for))
    lost = and_(Job.state == JobState.running, Job.lease_expires_at < now)
    with db.session() as session:
        rows = session.execute(
            select(Job.id, Job.kind, Job.modality)
            .where(or_(queued, lost))
            .order_by(Job.created_at, Job.id)
            .limit(limit)
        ).all()
    return [(str(job_id), str(kind), modality) for job_id, kind, modality in rows]


def claim_next(db: Database, *, worker_id: str, lease_seconds: float) -> Claim | None:
    for job_id in claimable_jobs(db):
        got = claim(db, job_id, worker_id=worker_id, lease_seconds=lease_seconds)
        if got is not None:
            return got
    return None


def lease_remaining(db: Database, job_id: str) -> float | None:
    """Seconds until the job's lease expires (None when the job is not running)."""
    with db.session() as session:
        row = session.execute(
            select(Job.state, Job.lease_expires_at).where(Job.id == job_id)
        ).first()
    if row is None or row.state != JobState.running or row.lease_expires_at is None:
        return None
    return max(0.0, float((row.lease_expires_at - utcnow()).total_seconds()))


def job_state(db: Database, job_id: str) -> str | None:
    with db.session() as session:
        return session.scalar(select(Job.state).where(Job.id == job_id))


def renew(db: Database, held: Claim, *, lease_seconds: float) -> bool:
    """Extend the lease; False when it is no longer ours."""
    now = utcnow()
    with db.transaction(write=True) as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == held.job_id,
                Job.lease_owner == held.worker_id,
                Job.state == JobState.running,
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
        return getattr(result, "rowcount", 0) == 1


def cancel_requested(db: Database, job_id: str) -> bool:
    with db.session() as session:
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def update_held(session: Session, held: Claim, **values: Any) -> None:
    """In the caller's transaction, write fields of our job; raises LeaseLost (and the
    caller's transaction rolls back) when another worker holds it."""
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Job)
        .where(
            Job.id == held.job_id, Job.lease_owner == held.worker_id, Job.state == JobState.running
        )
        .values(**values)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLost(held.job_id)


def update_job(db: Database, held: Claim, **values: Any) -> None:
    """Write fields of our job in a transaction of its own."""
    with db.transaction(write=True) as session:
        update_held(session, held, **values)


def requeue(db: Database, held: Claim) -> None:
    """Hand a job back (the worker is shutting down); it resumes where it stopped. A
    graceful hand-back does not count as a failed attempt."""
    update_job(
        db,
        held,
        state=JobState.queued,
        lease_owner=None,
        lease_expires_at=None,
        attempts=Job.attempts - 1,
    )
