"""The service CLI (`synthgen users ...`, `synthgen client ...`) and the Python client."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.client import ClientError, SynthgenClient
from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app
from tests.support.live import LiveServer
from tests.support.service import COHORT_SCHEMA, ServiceEnv, cohort_csv


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SYNTHGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SYNTHGEN_DATABASE_URL", raising=False)
    return CliRunner()


def test_cli_users_create_prints_the_key_alone_on_its_last_line(cli: CliRunner) -> None:
    result = cli.invoke(app, ["users", "create", "alice", "--role", "steward"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("sg_") and " " not in key and len(key) > 40
    again = cli.invoke(app, ["users", "create", "alice", "--role", "steward"])
    assert again.exit_code == 2 and "exists" in again.stderr
    bad = cli.invoke(app, ["users", "create", "bob", "--role", "superuser"])
    assert bad.exit_code == 2 and "--role" in bad.stderr


def test_cli_users_list_key_revoke(cli: CliRunner) -> None:
    assert cli.invoke(app, ["users", "create", "carol", "--role", "auditor"]).exit_code == 0
    second = cli.invoke(app, ["users", "key", "carol"])
    assert second.exit_code == 0 and second.stdout.strip().splitlines()[-1].startswith("sg_")
    listing = cli.invoke(app, ["users", "list"]).stdout
    assert "carol" in listing and "auditor" in listing and " 2  active" in listing
    promoted = cli.invoke(app, ["users", "role", "carol", "--role", "steward"])
    assert promoted.exit_code == 0 and "'carol' is now steward" in promoted.stdout
    assert "steward" in cli.invoke(app, ["users", "list"]).stdout
    bad_role = cli.invoke(app, ["users", "role", "carol", "--role", "superuser"])
    assert bad_role.exit_code == 2 and "role must be one of" in bad_role.stderr
    revoked = cli.invoke(app, ["users", "revoke", "carol"])
    assert revoked.exit_code == 0 and "revoked 2 key(s)" in revoked.stdout
    assert "disabled" in cli.invoke(app, ["users", "list"]).stdout
    assert cli.invoke(app, ["users", "revoke", "nobody"]).exit_code == 2


def test_cli_client_needs_a_key(cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNTHGEN_API_KEY", raising=False)
    result = cli.invoke(app, ["client", "releases"])
    assert result.exit_code == 2 and "API key" in result.stderr


def test_cli_client_reports_an_unreachable_service_in_one_line(cli: CliRunner) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on: bind, note it, close
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = cli.invoke(app, ["client", "--url", url, "--key", "sg_x", "status", "job1"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot reach {url}")
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_cli_client_reports_a_wait_timeout_in_one_line(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def still_running(self: SynthgenClient, job_id: str) -> dict[str, str]:
        raise TimeoutError(f"job {job_id} still running after 5 s")

    monkeypatch.setattr(SynthgenClient, "job", still_running)
    result = cli.invoke(app, ["client", "--key", "sg_x", "status", "job1"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: job job1 still running after 5 s"


def test_python_client_flow_and_errors(sqlite_service: ServiceEnv, tmp_path: Path) -> None:
    table, schema = tmp_path / "cohort.csv", tmp_path / "schema.yaml"
    table.write_bytes(cohort_csv())
    schema.write_bytes(COHORT_SCHEMA)
    stop = threading.Event()

    def work() -> None:  # a local worker, as `synthgen serve` runs one
        while not stop.is_set():
            if not sqlite_service.worker.run_once():
                stop.wait(0.05)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        with LiveServer(sqlite_service.app) as server:
            steward = SynthgenClient(server.url, sqlite_service.key("steward"))
            engineer = SynthgenClient(server.url, sqlite_service.key("ml_engineer"))
            assert steward.health() == {"status": "ok"} and steward.me()["role"] == "steward"
            source = steward.upload_source(
                table, name="c", target="outcome", epsilon_budget=2, schema=schema
            )
            assert steward.wait(source["check_job_id"], poll=0.1)["state"] == "succeeded"
            job = steward.wait(
                steward.request_dataset(source["id"], epsilon=1.5, rows=30, seed=4)["id"], poll=0.1
            )
            assert job["state"] == "succeeded"
            with pytest.raises(ClientError) as refused:
                steward.request_dataset(source["id"], epsilon=1.0, rows=5)
            assert refused.value.status == 409 and "budget" in refused.value.detail
            with pytest.raises(ClientError) as hidden:
                engineer.download(job["release_id"], tmp_path / "x.csv")
            assert hidden.value.status == 404 and not (tmp_path / "x.csv").exists()
            steward.approve(job["release_id"], reason="fine")
            out = engineer.download(job["release_id"], tmp_path / "x.parquet", format="parquet")
            assert out.stat().st_size > 0
            assert engineer.certificate(job["release_id"])["private"] is True
            with pytest.raises(ClientError) as forbidden:
                engineer.report(job["release_id"], tmp_path / "r.html")
            assert forbidden.value.status == 403
            steward.report(job["release_id"], tmp_path / "r.html")
            assert b"report" in (tmp_path / "r.html").read_bytes()
            with pytest.raises(ClientError) as invalid:
                steward.request_dataset(source["id"], epsilon=-1)
            assert invalid.value.status == 422 and "epsilon" in invalid.value.detail
            assert steward.ledger(source["id"])["epsilon_remaining"] == pytest.approx(
                2 - 1.5 * 0.97
            )
            steward.close()
            engineer.close()
    finally:
        stop.set()
        worker.join(10)
