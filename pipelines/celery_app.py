"""The Celery executor: jobs travel through a Redis broker to ``synthgen worker --celery``
processes, on any number of machines that share the store and the data directory.

The job table stays the source of truth. A task only names a job; the worker claims the
job's lease before running it, so a message delivered twice (acks_late redelivery, a
recovery sweep) never runs a job twice, and a message whose worker was killed is
delivered again (``task_reject_on_worker_lost``) and resumes the job once the dead
worker's lease has run out.

Run a worker with ``synthgen worker --celery`` or ``celery -A pipelines.celery_app worker``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Celery, signals

from pipelines import leases
from pipelines.routing import QueueRouter, celery_gpu_probe, gpu_queue
from pipelines.runner import WorkerContext, run_job
from pipelines.settings import Settings, get_settings
from pipelines.store import Database

log = logging.getLogger("synthgen.worker")

TASK_RUN_JOB = "synthgen.run_job"
TASK_RECOVER = "synthgen.recover_jobs"
VISIBILITY_TIMEOUT_SECONDS = 12 * 3600  # longer than any training job


def create_celery(settings: Settings) -> Celery:
    app = Celery("synthgen", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,  # ack when the job ended, not when it started
        task_reject_on_worker_lost=True,  # a killed worker's job goes back to the queue
        worker_prefetch_multiplier=1,  # jobs are long: do not hoard them
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        beat_schedule={
            "recover-lost-jobs": {
                "task": TASK_RECOVER,
                "schedule": max(30.0, settings.lease_seconds),
            },
        },
    )
    return app


celery_app = create_celery(get_settings())

F = TypeVar("F", bound=Callable[..., Any])


def _task(name: str, **options: Any) -> Callable[[F], F]:
    """``celery_app.task`` with a type (Celery ships none)."""
    decorator: Callable[[F], F] = celery_app.task(name=name, **options)
    return decorator


_context: WorkerContext | None = None
_context_pid = 0


def worker_context() -> WorkerContext:
    """One context per worker process, created after the fork (no shared connections)."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        _context = WorkerContext.create(get_settings())
        _context_pid = os.getpid()
    return _context


def make_router(app: Celery, cpu_queue: str) -> QueueRouter:
    """The queue of each job kind (pipelines.routing), probing this app's workers."""
    return QueueRouter(cpu_queue, celery_gpu_probe(app, gpu_queue(cpu_queue)))


def enqueue_claimable(app: Celery, db: Database, *, queued_for: float | None = None) -> int:
    """Send a task for every job a worker could claim now (idempotent: claims fence), each
    to its queue as routed now (a GPU job whose GPU worker died goes to the CPU queue)."""
    jobs = leases.claimable_jobs_routed(db, limit=1000, queued_for=queued_for)
    router = make_router(app, app.conf.task_default_queue)
    for job_id, kind, modality in jobs:
        app.send_task(TASK_RUN_JOB, args=[job_id], queue=router.queue_for(kind, modality))
    return len(jobs)


@_task(TASK_RUN_JOB, bind=True, max_retries=None)
def run_job_task(self: Any, job_id: str) -> str:
    ctx = worker_context()
    outcome = run_job(ctx, job_id)
    if outcome == "busy":
        # another worker holds it; if that worker is dead, its lease runs out: look again then
        remaining = leases.lease_remaining(ctx.db, job_id)
        raise self.retry(
            countdown=(remaining if remaining is not None else ctx.settings.lease_seconds) + 1
        )
    if outcome == "ran" and leases.job_state(ctx.db, job_id) == "queued":
        raise self.retry(countdown=1)  # handed back at shutdown: another worker resumes it
    return outcome


@_task(TASK_RECOVER)
def recover_jobs_task() -> int:
    """Periodic (``--beat``): re-send lost jobs, e.g. after a whole worker machine died, or
    jobs whose message never reached the broker."""
    settings = get_settings()
    return enqueue_claimable(celery_app, worker_context().db, queued_for=2 * settings.lease_seconds)


def _recover_on_start(**_kwargs: Any) -> None:
    # runs in the parent process: use a throwaway engine, none must survive into the forks
    db = Database(get_settings().sqlalchemy_url, pool_size=1)
    try:
        count = enqueue_claimable(celery_app, db)
        if count:
            log.info("worker ready: re-sent %d claimable job(s)", count)
    except Exception as exc:
        log.warning("worker ready: recovery sweep failed (%s)", type(exc).__name__)
    finally:
        db.dispose()


signals.worker_ready.connect(_recover_on_start, weak=False)
