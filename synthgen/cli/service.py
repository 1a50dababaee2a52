"""The service commands: ``serve`` and ``worker``.

They work on the deployment's store and data directory (SYNTHGEN_DATA_DIR, default a
per-user data directory; SYNTHGEN_DATABASE_URL for PostgreSQL). The service packages
(api, pipelines) are imported inside the commands, so the rest of the CLI never loads them.
"""

from __future__ import annotations

import typer

from synthgen.cli.app import app, fail, reports_errors

LOG_LEVEL_HELP = "debug, info, warning or error."


@app.command("serve")
@reports_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=0,
        help="Local worker processes to start (0: none, e.g. with Celery workers).",
    ),
    api_processes: int = typer.Option(
        1, "--api-processes", min=1, help="API server processes (uvicorn workers) sharing the port."
    ),
    log_level: str = typer.Option("info", "--log-level", help=LOG_LEVEL_HELP),
) -> None:
    """Start the HTTP API and local worker processes (Ctrl-C stops both).

    OpenAPI docs at http://HOST:PORT/docs. Jobs left running by a previous run are picked
    up again and resume from their checkpoints.
    """
    from api.serve import serve

    serve(host=host, port=port, workers=workers, api_processes=api_processes, log_level=log_level)


@app.command("worker")
@reports_errors
def worker(
    celery: bool = typer.Option(
        False,
        "--celery",
        help="Consume jobs from the Celery broker (SYNTHGEN_BROKER_URL) instead of polling the store.",
    ),
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, help="Jobs run at once (processes)."
    ),
    beat: bool = typer.Option(
        False,
        "--beat",
        help="With --celery: also run the periodic recovery of lost jobs (one per deployment).",
    ),
    devices: str = typer.Option(
        "auto",
        "--devices",
        help="With --celery: the devices this worker offers, auto (a visible CUDA device "
        "makes it gpu), cpu or gpu. A gpu worker also takes image training jobs "
        "(queue SYNTHGEN_CELERY_QUEUE.gpu); every worker takes the rest.",
    ),
    log_level: str = typer.Option("info", "--log-level", help=LOG_LEVEL_HELP),
) -> None:
    """Run jobs: a local worker polling the store, or a Celery worker on a Redis broker."""
    from pipelines.supervisor import run_workers

    if devices not in ("auto", "cpu", "gpu"):
        raise fail(f"--devices must be auto, cpu or gpu, not {devices!r}")
    status = run_workers(
        celery=celery, concurrency=concurrency, beat=beat, log_level=log_level, devices=devices
    )
    raise typer.Exit(status)
