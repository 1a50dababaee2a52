"""Telling workers about a new job. The job row is already committed when ``submit`` is
called, so a lost notification delays a job but never loses it: local workers poll the
job table, and Celery workers re-send claimable jobs when they start (and periodically
with ``--beat``)."""

from __future__ import annotations

import logging
from typing import Protocol

from pipelines.errors import Unavailable
from pipelines.settings import Settings

log = logging.getLogger("synthgen.api")


class Dispatcher(Protocol):
    def submit(self, job_id: str, kind: str, modality: str | None) -> None:
        """Tell workers about a job (its kind and modality pick the queue)."""

    def check(self) -> None:
        """Raise Unavailable when jobs cannot reach workers."""


class LocalDispatcher:
    """Local workers poll the job table: nothing to send."""

    def submit(self, job_id: str, kind: str, modality: str | None) -> None:
        return None

    def check(self) -> None:
        return None


class CeleryDispatcher:
    def __init__(self, settings: Settings) -> None:
        from pipelines.celery_app import create_celery, make_router

        self.app = create_celery(settings)
        self.router = make_router(self.app, settings.celery_queue)

    def submit(self, job_id: str, kind: str, modality: str | None) -> None:
        from pipelines.celery_app import TASK_RUN_JOB

        try:
            self.app.send_task(
                TASK_RUN_JOB,
                args=[job_id],
                queue=self.router.queue_for(kind, modality),
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
            )
        except Exception as exc:
            log.warning(
                "broker unavailable (%s): job %s stays queued until a worker re-sends it",
                type(exc).__name__,
                job_id,
            )

    def check(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:
            raise Unavailable(f"the job broker is not reachable ({type(exc).__name__})") from exc


def make_dispatcher(settings: Settings) -> Dispatcher:
    return CeleryDispatcher(settings) if settings.executor == "celery" else LocalDispatcher()
