"""Which Celery queue a job goes to: jobs that gain from a GPU go to the GPU queue while a
GPU worker listens there, and to the CPU queue otherwise, so a deployment without GPUs runs
everything and one with them sends image training where it is fast.

Queues: ``CELERY_QUEUE`` (default ``synthgen``) is the CPU queue, as it always was, and
``<CELERY_QUEUE>.gpu`` the GPU queue. A worker declares its devices
(``synthgen worker --celery --devices auto|cpu|gpu``): a CPU worker consumes the CPU queue,
a GPU worker both (GPU first in its ``-Q`` list), so a GPU machine is never idle while CPU
work waits. Whether a GPU worker is up is asked of the workers themselves through Celery's
remote control (``inspect().active_queues()``), at most once per ``GPU_PROBE_SECONDS``:
no registry of our own to keep in step. A job sent to the GPU queue whose GPU worker then
dies is re-sent by the recovery sweep (``--beat``), which routes it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

log = logging.getLogger("synthgen.api")

Device = Literal["cpu", "gpu"]
# (job kind, modality) pairs that a GPU speeds up most: image training
GPU_WORK = frozenset({("synthesize", "image")})
GPU_PROBE_SECONDS = 30.0  # how long an answer about GPU workers is trusted
PROBE_TIMEOUT_SECONDS = 0.5  # how long workers have to answer a probe


def gpu_queue(cpu_queue: str) -> str:
    return f"{cpu_queue}.gpu"


def worker_queues(cpu_queue: str, devices: Device) -> list[str]:
    """The queues a worker with these devices consumes, the preferred one first."""
    return [gpu_queue(cpu_queue), cpu_queue] if devices == "gpu" else [cpu_queue]


def detect_devices() -> Device:
    """``gpu`` when this process sees a CUDA device (the trainers then use it)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "gpu" if torch.cuda.is_available() else "cpu"


class QueueRouter:
    """Picks a job's queue; ``probe`` says whether a GPU worker consumes the GPU queue."""

    def __init__(
        self,
        cpu_queue: str,
        probe: Callable[[], bool],
        *,
        ttl: float = GPU_PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cpu_queue = cpu_queue
        self.gpu_queue = gpu_queue(cpu_queue)
        self._probe, self._ttl, self._clock = probe, ttl, clock
        self._known: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def queue_for(self, kind: str, modality: str | None) -> str:
        if (kind, modality) in GPU_WORK and self.gpu_workers():
            return self.gpu_queue
        return self.cpu_queue

    def gpu_workers(self) -> bool:
        with self._lock:
            now = self._clock()
            if self._known is None or now - self._known[0] > self._ttl:
                try:
                    found = bool(self._probe())
                except Exception as exc:  # no answer: run on CPU, which always works
                    log.warning("GPU worker probe failed (%s)", type(exc).__name__)
                    found = False
                self._known = (now, found)
            return self._known[1]


def celery_gpu_probe(app: Any, queue: str) -> Callable[[], bool]:
    """Asks the running workers which queues they consume (Celery remote control)."""

    def probe() -> bool:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)  # a broker down fails fast
            inspect = app.control.inspect(timeout=PROBE_TIMEOUT_SECONDS, connection=conn)
            answers = inspect.active_queues() or {}
        return any(q.get("name") == queue for queues in answers.values() for q in queues)

    return probe
