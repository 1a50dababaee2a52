"""``synthgen serve``: the HTTP API under uvicorn, with local workers beside it."""

from __future__ import annotations

import signal
import sys
from typing import Any

import uvicorn

from api.main import create_app
from pipelines.services import open_services
from pipelines.settings import Settings
from pipelines.supervisor import WorkerPool


def serve(*, host: str, port: int, workers: int, api_processes: int, log_level: str) -> None:
    """Serve until stopped (Ctrl-C, SIGTERM), then stop the workers. ``workers`` local
    worker processes run jobs unless the executor is Celery; ``api_processes`` > 1 runs
    that many uvicorn workers, each building its own app from the same settings."""
    settings = Settings()
    services = open_services(settings)
    pool = WorkerPool(workers if settings.executor == "local" else 0, log_level.upper())
    say = f"synthgen service on http://{host}:{port} (docs at /docs); data in {settings.data_dir}"
    print(say, file=sys.stderr)
    say = f"store: {services.db.safe_url()}; executor: {settings.executor}; local workers: {pool.count}"
    print(say, file=sys.stderr, flush=True)
    pool.start()
    # uvicorn re-raises the signal that stopped it once it has shut down; make that an
    # exception here, so that the workers are stopped below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    where: dict[str, Any] = {"host": host, "port": port, "log_level": log_level.lower()}
    try:
        if api_processes > 1:  # each process builds its own app from the same settings
            services.close()
            uvicorn.run("api.main:create_app", factory=True, workers=api_processes, **where)
        else:
            uvicorn.run(create_app(services=services), **where)
    finally:
        pool.stop()
