"""``synthgen client ...``: talk to a running service over HTTP (SYNTHGEN_URL,
SYNTHGEN_API_KEY) with the Python client, ``api.client.SynthgenClient``.

``api`` is imported inside the commands, so the rest of the CLI never loads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from synthgen.cli.app import Typer, app, fail, reports_errors
from synthgen.cli.sample import parse_class_counts

client_app = Typer(
    help="Talk to a running service (SYNTHGEN_URL, SYNTHGEN_API_KEY).", no_args_is_help=True
)
app.add_typer(client_app, name="client")
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
    import httpx

    from api.client import ClientError, SynthgenClient

    if not _client_options.get("key"):
        raise fail("give an API key with --key or SYNTHGEN_API_KEY")
    try:
        with SynthgenClient(_client_options["url"], _client_options["key"]) as client:
            yield client
    except ClientError as exc:
        raise fail(f"the service answered {exc.status}: {exc.detail}") from None
    except TimeoutError as exc:  # before OSError, its base class: the service answered
        raise fail(str(exc)) from None
    except (httpx.TransportError, OSError) as exc:  # refused, DNS, TLS, timeouts on the wire
        raise fail(f"cannot reach {_client_options['url']}: {exc}") from None


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
    entity: str | None = typer.Option(
        None,
        "--entity",
        help="Images: the patient id source (dicom:KEYWORD, csv:COLUMN or folder); every "
        "job on the source is then patient-level. Tables: the schema's role: entity.",
    ),
    max_records_per_entity: int | None = typer.Option(
        None, "--max-records-per-entity", help="Images kept per patient (default 8)."
    ),
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
            entity=entity,
            max_records_per_entity=max_records_per_entity,
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
