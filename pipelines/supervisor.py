"""Worker processes on this machine: ``synthgen worker`` and the workers ``synthgen serve``
starts beside the API.

A pool restarts a worker that dies and stops them all with SIGTERM, which hands their jobs
back (they resume from their checkpoints). A worker that does not stop in time is killed:
its job's lease runs out and another worker resumes it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from pipelines.routing import detect_devices, worker_queues
from pipelines.services import open_store
from pipelines.settings import Settings

WORKER_STOP_SECONDS = 30


class WorkerPool:
    """``count`` local worker processes (``python -m pipelines.worker``), kept running."""

    def __init__(self, count: int, log_level: str) -> None:
        self.count = count
        self.cmd = [sys.executable, "-m", "pipelines.worker", "--no-migrate"]
        self.cmd += ["--log-level", log_level]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._supervise, daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        linux = sys.platform == "linux"
        return subprocess.Popen(self.cmd, preexec_fn=_die_with_parent if linux else None)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self._watch.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(2.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping.is_set():
                    print(
                        f"worker {proc.pid} exited ({proc.returncode}); starting another",
                        file=sys.stderr,
                        flush=True,
                    )
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self._stopping.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WORKER_STOP_SECONDS
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), so that a killed
    supervisor does not leave workers behind (they hand their job back and exit)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_workers(
    *, celery: bool, concurrency: int, beat: bool, log_level: str, devices: str = "auto"
) -> int:
    """Run jobs until stopped: ``concurrency`` local workers polling the store, or a Celery
    worker on the broker (``beat``: with the periodic recovery of lost jobs; ``devices``:
    auto, cpu or gpu, which picks its queues, ``pipelines.routing``). Upgrades the store
    first; returns the exit status."""
    settings = Settings()
    open_store(settings).dispose()
    if celery:
        from pipelines.celery_app import celery_app

        argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={log_level.upper()}"]
        offered = detect_devices() if devices == "auto" else devices
        queues = worker_queues(settings.celery_queue, "gpu" if offered == "gpu" else "cpu")
        argv += ["-Q", ",".join(queues)]
        argv += ["--hostname", f"synthgen@{os.uname().nodename}-{os.getpid()}"]
        celery_app.worker_main([*argv, "--beat"] if beat else argv)
        return 0
    if concurrency == 1:
        from pipelines.worker import main

        return main(["--no-migrate", "--log-level", log_level])
    pool = WorkerPool(concurrency, log_level.upper())
    pool.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()
    return 0
