"""The service commands: ``serve``, ``worker``, ``users ...`` and ``client ...``.

``serve``, ``worker`` and ``users`` work on the deployment's store and data directory
(SYNTHGEN_DATA_DIR, default a per-user data directory; SYNTHGEN_DATABASE_URL for
PostgreSQL). ``client`` talks to a running service over HTTP (SYNTHGEN_URL,
SYNTHGEN_API_KEY). The service packages (api, pipelines) are imported inside the
commands, so the rest of the CLI never loads them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from synthgen.cli.app import app, fail, reports_errors
from synthgen.cli.sample import parse_class_counts

users_app = typer.Typer(
    help="Users and API keys (on the server: reads SYNTHGEN_DATA_DIR / SYNTHGEN_DATABASE_URL).",
    no_args_is_help=True,
)
client_app = typer.Typer(
    help="Talk to a running service (SYNTHGEN_URL, SYNTHGEN_API_KEY).", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(client_app, name="client")

WORKER_STOP_SECONDS = 30


def _open_store() -> Any:
    from pipelines.settings import Settings
    from pipelines.store import Database, upgrade_head

    settings = Settings()
    db = Database(settings.sqlalchemy_url)
    upgrade_head(db)
    return settings, db


# -- serve and worker ------------------------------------------------------------------------
class _WorkerPool:
    """Local worker processes, restarted if one dies; stopped with SIGTERM (graceful)."""

    def __init__(self, count: int, log_level: str) -> None:
        self.count = count
        self.cmd = [
            sys.executable,
            "-m",
            "pipelines.worker",
            "--no-migrate",
            "--log-level",
            log_level,
        ]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._watch = threading.Thread(target=self._supervise, daemon=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.cmd, preexec_fn=_die_with_parent if sys.platform == "linux" else None
        )

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self._watch.start()

    def _supervise(self) -> None:
        while not self._stopping.wait(2.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stopping.is_set():
                    typer.echo(
                        f"worker {proc.pid} exited ({proc.returncode}); starting another", err=True
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
                proc.kill()  # its job's lease runs out and another worker resumes it
                proc.wait()


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), so a killed
    ``serve`` does not leave workers behind (they hand their job back and exit)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(0)


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
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Start the HTTP API and local worker processes (Ctrl-C stops both).

    OpenAPI docs at http://HOST:PORT/docs. Jobs left running by a previous run are picked
    up again and resume from their checkpoints.
    """
    import uvicorn

    from api.main import create_app
    from pipelines.services import open_services

    settings, db = _open_store()
    db.dispose()
    services = open_services(settings, migrate=False)
    pool = _WorkerPool(workers if settings.executor == "local" else 0, log_level.upper())
    typer.echo(
        f"synthgen service on http://{host}:{port} (docs at /docs); data in {settings.data_dir}",
        err=True,
    )
    typer.echo(
        f"store: {services.db.safe_url()}; executor: {settings.executor}; local workers: {pool.count}",
        err=True,
    )
    pool.start()
    # uvicorn re-raises the signal that stopped it once it has shut down; make that an
    # exception here, so that the workers are stopped below
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if api_processes > 1:  # each process builds its own app from the same settings
            services.close()
            uvicorn.run(
                "api.main:create_app",
                factory=True,
                workers=api_processes,
                host=host,
                port=port,
                log_level=log_level.lower(),
            )
        else:
            uvicorn.run(
                create_app(services=services), host=host, port=port, log_level=log_level.lower()
            )
    finally:
        pool.stop()


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
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
) -> None:
    """Run jobs: a local worker polling the store, or a Celery worker on a Redis broker."""
    settings, db = _open_store()
    db.dispose()
    if celery:
        from pipelines.celery_app import celery_app

        argv = [
            "worker",
            f"--concurrency={concurrency}",
            f"--loglevel={log_level.upper()}",
            "-Q",
            settings.celery_queue,
            "--hostname",
            f"synthgen@{os.uname().nodename}-{os.getpid()}",
        ]
        if beat:
            argv.append("--beat")
        celery_app.worker_main(argv)
        return
    if concurrency == 1:
        from pipelines.worker import main as worker_main

        raise typer.Exit(worker_main(["--no-migrate", "--log-level", log_level]))
    pool = _WorkerPool(concurrency, log_level.upper())
    pool.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()


# -- users -----------------------------------------------------------------------------------
ROLES = ("steward", "ml_engineer", "auditor", "admin")


@users_app.command("create")
@reports_errors
def users_create(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    role: str = typer.Option(..., "--role", help="steward, ml_engineer, auditor or admin."),
) -> None:
    """Create a user and print its API key (shown once, alone on the last line)."""
    from pipelines import auth

    if role not in ROLES:
        raise fail(f"--role must be one of {', '.join(ROLES)}")
    _, db = _open_store()
    with db.transaction() as session:
        issued = auth.create_user(session, name=name, role=role, actor=auth.operator(_local_user()))
    typer.echo(f"created {role} {name!r}; its API key is shown once, store it now:", err=True)
    typer.echo(issued.key)


@users_app.command("key")
@reports_errors
def users_key(name: str = typer.Argument(..., help="User name or id.")) -> None:
    """Issue another API key for a user (printed alone on the last line)."""
    from pipelines import auth

    _, db = _open_store()
    with db.transaction() as session:
        issued = auth.issue_key(session, name_or_id=name, actor=auth.operator(_local_user()))
    typer.echo(f"new key for {issued.user.name!r}; shown once, store it now:", err=True)
    typer.echo(issued.key)


@users_app.command("list")
@reports_errors
def users_list() -> None:
    """List users, their roles and how many active keys they have."""
    from pipelines import auth

    _, db = _open_store()
    with db.session() as session:
        rows = auth.list_users(session)
    typer.echo(f"{'name':24s} {'role':12s} {'keys':>4s}  status")
    for u in rows:
        status = f"disabled {u.disabled_at:%Y-%m-%d}" if u.disabled_at else "active"
        typer.echo(f"{u.name:24s} {u.role:12s} {u.active_keys:4d}  {status}")


@users_app.command("revoke")
@reports_errors
def users_revoke(name: str = typer.Argument(..., help="User name or id.")) -> None:
    """Disable a user and revoke all their API keys."""
    from pipelines import auth

    _, db = _open_store()
    with db.transaction() as session:
        count = auth.revoke_user(session, name_or_id=name, actor=auth.operator(_local_user()))
    typer.echo(f"revoked {count} key(s) of {name!r}; the user is disabled")


def _local_user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER", "cli")


# -- client ----------------------------------------------------------------------------------
_client_options: dict[str, Any] = {}


@client_app.callback()
def client_main(
    url: str = typer.Option(
        "http://127.0.0.1:8000", "--url", envvar="SYNTHGEN_URL", help="The service's address."
    ),
    key: str | None = typer.Option(None, "--key", envvar="SYNTHGEN_API_KEY", help="Your API key."),
) -> None:
    _client_options.update(url=url, key=key)


@contextmanager
def _client() -> Iterator[Any]:
    from api.client import ClientError, SynthgenClient

    if not _client_options.get("key"):
        raise fail("give an API key with --key or SYNTHGEN_API_KEY")
    client = SynthgenClient(_client_options["url"], _client_options["key"])
    try:
        yield client
    except ClientError as exc:
        raise fail(f"the service answered {exc.status}: {exc.detail}") from None
    except OSError as exc:
        raise fail(f"cannot reach {_client_options['url']}: {exc}") from None
    finally:
        client.close()


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, default=str))


def _progress_printer() -> Callable[[dict[str, Any]], None]:
    last: list[Any] = [None]

    def show(status: dict[str, Any]) -> None:
        line = (status["state"], status.get("stage"), round(status.get("progress") or 0))
        if line != last[0]:
            eps = status.get("epsilon_spent")
            spent = f", epsilon spent {eps:.3f}" if eps is not None else ""
            typer.echo(f"{status['state']} {status.get('stage') or ''} {line[2]}%{spent}", err=True)
            last[0] = line

    return show


def _wait(client: Any, job_id: str) -> dict[str, Any]:
    status: dict[str, Any] = client.wait(job_id, on_update=_progress_printer())
    if status["state"] != "succeeded":
        raise fail(f"job {job_id} {status['state']}: {status.get('error') or ''}")
    return status


@client_app.command("upload")
@reports_errors
def client_upload(
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="The table (CSV/Parquet) or images (.npz, .zip)."
    ),
    name: str = typer.Option(..., "--name"),
    epsilon_budget: float = typer.Option(
        ..., "--epsilon-budget", help="Cap on the total epsilon of all jobs on this source."
    ),
    target: str | None = typer.Option(None, "--target", help="The label column (tables)."),
    delta_budget: float | None = typer.Option(None, "--delta-budget"),
    schema: Path | None = typer.Option(None, "--schema", exists=True, dir_okay=False),
    wait: bool = typer.Option(False, "--wait", help="Wait until the source is validated."),
) -> None:
    """Upload a source (steward); prints its id."""
    with _client() as client:
        created = client.upload_source(
            path,
            name=name,
            target=target,
            epsilon_budget=epsilon_budget,
            delta_budget=delta_budget,
            schema=schema,
        )
        if wait and created.get("check_job_id"):
            client.wait(created["check_job_id"], on_update=_progress_printer())
            created["state"] = client.source(created["id"])["state"]
    typer.echo(f"source {created['id']} ({created['state']})", err=True)
    typer.echo(created["id"])


@client_app.command("request")
@reports_errors
def client_request(
    source_id: str = typer.Argument(...),
    epsilon: float = typer.Option(..., "--epsilon"),
    rows: int | None = typer.Option(None, "--rows"),
    seed: int = typer.Option(0, "--seed"),
    class_counts: str | None = typer.Option(None, "--class-counts", help="LABEL=N,LABEL=N"),
    delta: float | None = typer.Option(None, "--delta"),
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends."),
) -> None:
    """Request a synthetic dataset (steward); prints the job id."""
    with _client() as client:
        job = client.request_dataset(
            source_id,
            epsilon=epsilon,
            rows=rows,
            seed=seed,
            class_counts=parse_class_counts(class_counts),
            delta=delta,
        )
        if wait:
            status = _wait(client, job["id"])
            typer.echo(f"release {status['release_id']} is waiting for approval", err=True)
    typer.echo(job["id"])


@client_app.command("status")
@reports_errors
def client_status(
    job_id: str = typer.Argument(...), wait: bool = typer.Option(False, "--wait")
) -> None:
    """Show a job (state, stage, progress, epsilon spent)."""
    with _client() as client:
        _echo_json(_wait(client, job_id) if wait else client.job(job_id))


@client_app.command("cancel")
@reports_errors
def client_cancel(job_id: str = typer.Argument(...)) -> None:
    """Cancel a job (it pays for the training steps that ran)."""
    with _client() as client:
        _echo_json(client.cancel(job_id))


@client_app.command("ledger")
@reports_errors
def client_ledger(source_id: str = typer.Argument(...)) -> None:
    """A source's privacy-budget ledger."""
    with _client() as client:
        _echo_json(client.ledger(source_id))


@client_app.command("releases")
@reports_errors
def client_releases(
    state: str | None = typer.Option(None, "--state", help="pending, approved or rejected"),
) -> None:
    """List the releases you may see."""
    with _client() as client:
        for r in client.releases(state=state):
            typer.echo(
                f"{r['id']}  {r['state']:9s} {r['n_records']:>8d} records  epsilon {r['epsilon']:.3f}  {', '.join(r['files'])}"
            )


@client_app.command("approve")
@reports_errors
def client_approve(
    release_id: str = typer.Argument(...), reason: str | None = typer.Option(None, "--reason")
) -> None:
    """Approve a release for ML engineers (steward, after reading its report)."""
    with _client() as client:
        client.approve(release_id, reason)
    typer.echo(f"release {release_id} approved")


@client_app.command("reject")
@reports_errors
def client_reject(
    release_id: str = typer.Argument(...), reason: str | None = typer.Option(None, "--reason")
) -> None:
    """Reject a release (steward)."""
    with _client() as client:
        client.reject(release_id, reason)
    typer.echo(f"release {release_id} rejected")


@client_app.command("download")
@reports_errors
def client_download(
    release_id: str = typer.Argument(...),
    out: Path = typer.Option(..., "--out", help="File to write."),
    format: str | None = typer.Option(
        None, "--format", help="csv (default), parquet; npz or png_zip for images."
    ),
) -> None:
    """Download a release's synthetic data."""
    with _client() as client:
        client.download(release_id, out, format=format)
    typer.echo(f"wrote {out}")


@client_app.command("certificate")
@reports_errors
def client_certificate(release_id: str = typer.Argument(...)) -> None:
    """Print a release's DP certificate."""
    with _client() as client:
        _echo_json(client.certificate(release_id))


@client_app.command("report")
@reports_errors
def client_report(
    release_id: str = typer.Argument(...),
    out: Path = typer.Option(..., "--out"),
    format: str = typer.Option("html", "--format", help="html, pdf or json"),
) -> None:
    """Download a release's validation report (steward, auditor)."""
    with _client() as client:
        client.report(release_id, out, format=format)
    typer.echo(f"wrote {out}")


@client_app.command("sample")
@reports_errors
def client_sample(
    release_id: str = typer.Argument(...),
    rows: int | None = typer.Option(None, "--rows"),
    seed: int = typer.Option(0, "--seed"),
    class_counts: str | None = typer.Option(None, "--class-counts", help="LABEL=N,LABEL=N"),
    wait: bool = typer.Option(False, "--wait"),
) -> None:
    """More records from an approved release's model (ML engineer; no budget)."""
    with _client() as client:
        job = client.more_samples(
            release_id, rows=rows, seed=seed, class_counts=parse_class_counts(class_counts)
        )
        if wait:
            status = _wait(client, job["id"])
            typer.echo(f"new release {status['release_id']}", err=True)
    typer.echo(job["id"])


@client_app.command("audit")
@reports_errors
def client_audit(
    action: str | None = typer.Option(None, "--action"),
    limit: int = typer.Option(50, "--limit"),
) -> None:
    """The audit log, newest first (auditor, admin)."""
    with _client() as client:
        for e in client.audit(action=action, limit=limit):
            typer.echo(
                f"{e['at']}  {e['actor_name']:24s} {e['action']:18s} {e.get('object_type') or ''} {e.get('object_id') or ''}"
            )
