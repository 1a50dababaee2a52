"""What a stage (``pipelines.stages``) sees of the worker running it: the worker's shared
``WorkerContext`` and the ``StageRun`` that ``pipelines.runner.JobRun`` implements, so the
runner and the stages do not import each other."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor
from pipelines.leases import Claim
from pipelines.library import Library, load_library
from pipelines.settings import Settings
from pipelines.store.db import Database
from synthgen.progress import ProgressEvent


@dataclass
class WorkerContext:
    """What a worker process shares between the jobs it runs."""

    settings: Settings
    db: Database
    store: ArtifactStore
    library: Library
    worker_id: str
    shutdown: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def create(
        cls, settings: Settings, *, db: Database | None = None, worker_id: str | None = None
    ) -> WorkerContext:
        store = ArtifactStore(settings)
        store.ensure_layout()
        return cls(
            settings=settings,
            db=db or Database(settings.sqlalchemy_url),
            store=store,
            library=load_library(settings.library),
            worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        )

    @property
    def actor(self) -> Actor:
        return Actor(id=None, name=f"worker:{self.worker_id}", role="worker")


class StageRun(Protocol):
    """One attempt at one job, by the worker that holds its lease."""

    ctx: WorkerContext
    held: Claim
    settings: Settings
    outputs: dict[str, Any]  # each finished stage's record (jobs.outputs)

    def enter(self, stage: str) -> None: ...  # between stages a cancel or shutdown acts
    def set_output(self, key: str, value: Any, **job_values: Any) -> None: ...
    def on_progress(self, event: ProgressEvent) -> None: ...
    def should_stop(self) -> bool: ...
