"""Running one job: claiming it, keeping its lease, cancellation, shutdown, and how it
ends. The stages themselves are in ``pipelines.stages``.

The ledger entry reserved when a synthesis job was created is settled exactly once:
- when training finishes, at the certificate's epsilon (``stages.record_training``;
  sampling, validation and reports are post-processing or stay private: they cost nothing
  more);
- when the job fails or is cancelled before that, at what the steps that ran spent, read
  from the accountant state the trainer writes as soon as a DP mechanism has run and after
  every step. No state means no mechanism ran (zero); a state that cannot be read is
  charged the whole reservation;
- at zero when training never started.

Job errors and log lines carry library messages (which never quote data) and exception
type names; a traceback is logged with its frames only, never the exception's text.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import traceback
from typing import Any, Literal

from sqlalchemy import case, func

from pipelines import leases, ledger, stages
from pipelines.context import WorkerContext as WorkerContext  # where workers import it from
from pipelines.errors import describe, redact_paths
from pipelines.leases import Claim, LeaseLost
from pipelines.store.models import (
    Job,
    JobKind,
    JobState,
    utcnow,
)
from synthgen.errors import (
    SynthgenError,
    TrainingCancelled,
)
from synthgen.progress import ProgressEvent

log = logging.getLogger("synthgen.worker")

# percent of the whole job at which each stage starts and ends
STAGE_SPANS: dict[str, dict[str, tuple[float, float]]] = {
    JobKind.synthesize: {
        "ingest": (0, 5),
        "train": (5, 80),
        "sample": (80, 90),
        "validate": (90, 98),
        "report": (98, 100),
    },
    JobKind.sample: {"sample": (0, 90), "publish": (90, 100)},
    JobKind.check_source: {"ingest": (0, 100)},
}
PROGRESS_WRITE_SECONDS = 0.5
CANCEL_CHECK_SECONDS = 1.0


class CancelRequested(Exception):
    pass


class Shutdown(Exception):
    pass


class WorkerLost(SynthgenError):
    pass


Outcome = Literal["ran", "busy", "finished", "missing"]


def run_next(ctx: WorkerContext) -> bool:
    """Claim the oldest claimable job and run it; False when there was none."""
    held = leases.claim_next(
        ctx.db, worker_id=ctx.worker_id, lease_seconds=ctx.settings.lease_seconds
    )
    if held is None:
        return False
    JobRun(ctx, held).run()
    return True


def run_job(ctx: WorkerContext, job_id: str) -> Outcome:
    """Run one given job (the Celery task): "busy" when another worker holds a live lease
    on it, "finished" when it already ended."""
    held = leases.claim(
        ctx.db, job_id, worker_id=ctx.worker_id, lease_seconds=ctx.settings.lease_seconds
    )
    if held is None:
        state = leases.job_state(ctx.db, job_id)
        if state is None:
            return "missing"
        return "busy" if state in (JobState.running, JobState.queued) else "finished"
    JobRun(ctx, held).run()
    return "ran"


def log_failure(job_id: str, stage: str | None, exc: BaseException) -> None:
    frames = traceback.extract_tb(exc.__traceback__)
    where = "\n".join(f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames)
    log.error(
        "job %s failed in stage %s with %s (its message is withheld: it may quote data)\n%s",
        job_id,
        stage,
        type(exc).__name__,
        where,
    )


class JobRun:
    """One attempt at one job, by the worker that holds its lease."""

    def __init__(self, ctx: WorkerContext, held: Claim) -> None:
        self.ctx = ctx
        self.held = held
        self.settings = ctx.settings
        self.stage: str | None = None
        self.kind = ""
        self.outputs: dict[str, Any] = {}
        self._lost = threading.Event()
        self._stop_heartbeat = threading.Event()
        self._cancel = False
        self._last_cancel_check = 0.0
        self._last_progress_write = 0.0

    # -- the frame ---------------------------------------------------------------------------
    def run(self) -> None:
        beat = threading.Thread(target=self._heartbeat, name="lease-heartbeat", daemon=True)
        beat.start()
        try:
            self._run()
        finally:
            self._stop_heartbeat.set()
            beat.join(timeout=5)

    def _run(self) -> None:
        job = self._load()
        self.kind = job.kind
        self.outputs = dict(job.outputs or {})
        log.info(
            "job %s (%s): attempt %d on %s",
            job.id,
            job.kind,
            self.held.attempt,
            self.held.worker_id,
        )
        try:
            if self.held.attempt > self.settings.max_attempts:
                raise WorkerLost(
                    f"the worker running this job was lost {self.held.attempt - 1} times; giving up"
                )
            if job.cancel_requested:
                raise CancelRequested()
            if job.kind == JobKind.check_source:
                stages.check_source(self, job)
            elif job.kind == JobKind.synthesize:
                stages.synthesize(self, job)
            elif job.kind == JobKind.sample:
                stages.more_samples(self, job)
            else:
                raise SynthgenError(f"unknown job kind {job.kind!r}")
            self._end(JobState.succeeded)
        except LeaseLost:
            log.warning("job %s: lease lost to another worker; stopping without writing", job.id)
        except TrainingCancelled as exc:
            if self._lost.is_set():
                log.warning("job %s: lease lost during training; stopping without writing", job.id)
            elif self._user_cancelled():
                self._end(JobState.cancelled, cancelled_at=exc.epsilon_spent)
            else:
                self._requeue()
        except CancelRequested:
            self._end(JobState.cancelled)
        except Shutdown:
            self._requeue()
        except SynthgenError as exc:
            log.info("job %s failed in stage %s: %s", job.id, self.stage, type(exc).__name__)
            self._end(JobState.failed, error=describe(exc, self.settings.data_dir))
        except Exception as exc:
            log_failure(job.id, self.stage, exc)
            self._end(
                JobState.failed,
                error=f"internal error ({type(exc).__name__}) in stage {self.stage}; "
                "the worker log has the traceback",
            )

    def _load(self) -> Job:
        with self.ctx.db.session() as session:
            job = session.get(Job, self.held.job_id)
            assert job is not None, "a claimed job exists"
            return job

    # -- lease, cancellation, progress -------------------------------------------------------
    def _heartbeat(self) -> None:
        interval = min(self.settings.lease_seconds / 3, 10.0)
        while not self._stop_heartbeat.wait(interval):
            try:
                if not leases.renew(
                    self.ctx.db, self.held, lease_seconds=self.settings.lease_seconds
                ):
                    self._lost.set()
                    return
            except Exception as exc:  # a database hiccup: try again at the next beat
                log.warning(
                    "job %s: lease renewal failed (%s)", self.held.job_id, type(exc).__name__
                )

    def _user_cancelled(self) -> bool:
        self._cancel = self._cancel or leases.cancel_requested(self.ctx.db, self.held.job_id)
        return self._cancel

    def should_stop(self) -> bool:
        """Polled by the trainer at every step."""
        if self.ctx.shutdown.is_set() or self._lost.is_set():
            return True
        now = time.monotonic()
        if now - self._last_cancel_check >= CANCEL_CHECK_SECONDS:
            self._last_cancel_check = now
            self._user_cancelled()
        return self._cancel

    def _between_stages(self) -> None:
        if self._lost.is_set():
            raise LeaseLost(self.held.job_id)
        if self._user_cancelled():
            raise CancelRequested()
        if self.ctx.shutdown.is_set():
            raise Shutdown()

    def _span(self) -> tuple[float, float]:
        return STAGE_SPANS.get(self.kind, {}).get(self.stage or "", (0.0, 100.0))

    def enter(self, stage: str) -> None:
        """Start a stage (between stages, a cancel or a shutdown takes effect)."""
        self._between_stages()
        self.stage = stage
        leases.update_job(self.ctx.db, self.held, stage=stage, progress=self._span()[0])

    def on_progress(self, event: ProgressEvent) -> None:
        low, high = self._span()
        fraction = 0.0
        if event.total and event.stage in ("train", "sample", "generate"):
            fraction = min(1.0, max(0.0, event.step / event.total))
        now = time.monotonic()
        final = bool(event.total) and event.step >= event.total
        if now - self._last_progress_write < PROGRESS_WRITE_SECONDS and not final:
            return
        self._last_progress_write = now
        values: dict[str, Any] = {"progress": round(low + (high - low) * fraction, 2)}
        if self.stage == "train" and math.isfinite(event.epsilon_spent):
            # never below the last known spend: a resumed trainer reports its set-up
            # (epsilon 0.0) before it reloads its accountant, and spend only grows
            spent = float(event.epsilon_spent)
            values["epsilon_spent"] = case(
                (func.coalesce(Job.epsilon_spent, 0.0) > spent, Job.epsilon_spent), else_=spent
            )
        try:
            leases.update_job(self.ctx.db, self.held, **values)
        except LeaseLost:
            self._lost.set()  # the trainer sees should_stop() and stops

    def set_output(self, key: str, value: Any, **job_values: Any) -> None:
        """Record a finished stage's result: a job picked up again skips it."""
        self.outputs = {**self.outputs, key: value}
        leases.update_job(self.ctx.db, self.held, outputs=self.outputs, **job_values)

    # -- ending ------------------------------------------------------------------------------
    def _requeue(self) -> None:
        log.info(
            "job %s: handed back at stage %s (worker shutting down)", self.held.job_id, self.stage
        )
        with contextlib.suppress(LeaseLost):
            leases.requeue(self.ctx.db, self.held)

    def _spend_so_far(self, job: Job, cancelled_at: float | None) -> tuple[float, float, str]:
        """(epsilon, delta, note) that a synthesis job stopping now has spent. The trainer
        writes its accountant state as soon as a DP mechanism has run (and after every
        step): no state means nothing was released."""
        if not self.outputs.get("train", {}).get("started"):
            return 0.0, 0.0, "no training step ran"
        known: list[float] = []
        if cancelled_at is not None and math.isfinite(cancelled_at):
            known.append(float(cancelled_at))
        try:
            from_state = self.ctx.library.spent_epsilon(
                self.ctx.store.run_dir(job.id), delta=job.delta_reserved
            )
        except Exception as exc:
            log.warning("job %s: cannot read the accountant state (%s)", job.id, type(exc).__name__)
            return (
                job.epsilon_reserved,
                job.delta_reserved,
                "the accountant state is unreadable: charged the whole reservation",
            )
        if from_state is not None:
            known.append(from_state if math.isfinite(from_state) else job.epsilon_reserved)
        if not known:
            return 0.0, 0.0, "no DP mechanism ran (no accountant state)"
        return max(known), job.delta_reserved, "the steps that ran (accountant state)"

    def _end(
        self, state: JobState, *, error: str | None = None, cancelled_at: float | None = None
    ) -> None:
        job = self._load()
        now = utcnow()
        values: dict[str, Any] = {
            "state": state,
            # a job's error is read by clients: no server path (the last resort)
            "error": redact_paths(error, self.settings.data_dir) if error else error,
            "finished_at": now,
            "updated_at": now,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if state == JobState.succeeded:
            values["progress"] = 100.0
        settlement = None
        if job.kind == JobKind.synthesize and not self.outputs.get("train", {}).get("done"):
            settlement = self._spend_so_far(job, cancelled_at)
            values["epsilon_spent"] = settlement[0]
        try:
            with self.ctx.db.transaction(write=True) as session:
                leases.update_held(session, self.held, **values)
                if settlement is not None:
                    eps, delta, note = settlement
                    ledger.settle(
                        session,
                        job_id=job.id,
                        epsilon_spent=eps,
                        delta_spent=delta,
                        note=f"{state}: {note}",
                        actor=self.ctx.actor,
                    )
        except LeaseLost:
            log.warning(
                "job %s: lease lost before it could be marked %s; the new holder finishes it",
                job.id,
                state,
            )
            return
        log.info("job %s: %s", job.id, state)
