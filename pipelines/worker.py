"""The local worker: a process that polls the job table and runs one job at a time.

``synthgen serve`` starts one next to the API; ``synthgen worker`` (or ``python -m
pipelines.worker``) starts more, on this machine or any machine that shares the store and
the data directory. SIGTERM/SIGINT stop it gracefully: a running job stops at its next
training step (or after its current stage) and is handed back, to resume from its
checkpoint. SIGKILL loses nothing either: the job's lease runs out and the next worker
resumes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from pipelines.runner import WorkerContext, run_next
from pipelines.services import open_store
from pipelines.settings import Settings

log = logging.getLogger("synthgen.worker")


class LocalWorker:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    def run_once(self) -> bool:
        """Run the next claimable job, if any; returns whether one ran."""
        return run_next(self.ctx)

    def run_forever(self) -> None:
        log.info(
            "worker %s polling %s every %.1fs",
            self.ctx.worker_id,
            self.ctx.db.safe_url(),
            self.ctx.settings.poll_seconds,
        )
        while not self.ctx.shutdown.is_set():
            try:
                ran = self.run_once()
            except Exception as exc:  # the store went away: wait and try again
                log.warning("worker loop error (%s); retrying", type(exc).__name__)
                ran = False
            if not ran:
                self.ctx.shutdown.wait(self.ctx.settings.poll_seconds)
        log.info("worker %s stopped", self.ctx.worker_id)

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            log.info(
                "worker %s: signal %d, stopping after the current step", self.ctx.worker_id, signum
            )
            self.ctx.shutdown.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    for noisy in ("great_expectations", "matplotlib", "PIL", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.worker", description=__doc__)
    parser.add_argument("--log-level", default=os.environ.get("SYNTHGEN_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--no-migrate", action="store_true", help="do not upgrade the store at start"
    )
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    settings = Settings()
    db = open_store(settings, migrate=not args.no_migrate)
    worker = LocalWorker(WorkerContext.create(settings, db=db))
    worker.install_signal_handlers()
    worker.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
