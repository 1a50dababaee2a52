"""The service under hostile access (issue 20, findings 5-8): the last admin, quotas and
rate limits, keys in URLs, the audit trail of refusals, settlements and reads, and three
smaller leaks. Every case runs on SQLite and PostgreSQL and checks the status, the message,
and that a refusal stored nothing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from alembic import command
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from pipelines import leases
from pipelines.runner import JobRun
from pipelines.settings import Settings
from pipelines.store import Database, upgrade_head
from pipelines.store.migrate import alembic_config
from pipelines.store.models import ApiKey, AuditEvent, Job, LedgerEntry, Source, User, utcnow
from synthgen.progress import ProgressEvent
from tests.support.live import LiveServer, free_port
from tests.support.service import (
    COHORT_SCHEMA,
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    ServiceEnv,
    _psycopg_connect,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
    unavailable,
)

MakeService = Callable[..., ServiceEnv]


@pytest.fixture
def make_service(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[MakeService]:
    """The service on a fresh store with some settings changed (one per call)."""
    started: list[Iterator[ServiceEnv]] = []

    def make(**overrides: Any) -> ServiceEnv:
        data_dir = tmp_path / f"data{len(started)}"
        url = fresh_database(backend, request, data_dir)
        services = build_service(make_settings(data_dir, url, **overrides))
        started.append(services)
        return next(services)

    yield make
    for services in started:
        services.close()  # type: ignore[attr-defined]


def default(name: str) -> Any:
    """A setting's shipped default (the test fixtures switch some limits off)."""
    return Settings.model_fields[name].default


def count(env: ServiceEnv, model: Any, *where: Any) -> int:
    with env.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def events(env: ServiceEnv, query: str = "") -> list[dict[str, Any]]:
    r = env.client.get(f"/v1/audit?limit=1000{query}", headers=env.headers("auditor"))
    assert r.status_code == 200, r.text
    return list(r.json())


def private_files(env: ServiceEnv) -> list[Path]:
    root = env.settings.private_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- 5. the last admin ----------------------------------------------------------------------------
def test_access_last_admin_cannot_revoke_itself(service: ServiceEnv) -> None:
    admin = service.headers("admin")
    r = service.client.post("/v1/users/admin/revoke", headers=admin)
    assert r.status_code == 409, r.text
    assert "last active admin" in r.json()["detail"]
    assert service.client.get("/v1/me", headers=admin).status_code == 200  # still works
    assert count(service, ApiKey, ApiKey.revoked_at.is_not(None)) == 0
    assert count(service, User, User.disabled_at.is_not(None)) == 0
    assert not events(service, "&action=key.revoke&outcome=ok")


def test_access_an_admin_can_go_while_another_remains(service: ServiceEnv) -> None:
    admin = service.headers("admin")
    r = service.client.post("/v1/users", json={"name": "second", "role": "admin"}, headers=admin)
    assert r.status_code == 201, r.text
    second = {"Authorization": f"Bearer {r.json()['key']}"}
    assert service.client.post("/v1/users/admin/revoke", headers=second).status_code == 200
    assert service.client.get("/v1/me", headers=admin).status_code == 401
    last = service.client.post("/v1/users/second/revoke", headers=second)
    assert last.status_code == 409 and "last active admin" in last.json()["detail"]
    assert service.client.get("/v1/me", headers=second).status_code == 200


def test_access_two_admins_revoking_each_other_at_once_leave_one(service: ServiceEnv) -> None:
    from pipelines import auth
    from pipelines.errors import Conflict

    service.key("admin", "a1")
    service.key("admin", "a2")
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def revoke(name: str, by: str) -> None:
        barrier.wait()
        try:
            with service.db.transaction() as session:
                auth.revoke_user(session, name_or_id=name, actor=auth.operator(by))
            outcomes[name] = "revoked"
        except Conflict:
            outcomes[name] = "refused"

    threads = [
        threading.Thread(target=revoke, args=("a1", "a2")),
        threading.Thread(target=revoke, args=("a2", "a1")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["refused", "revoked"], outcomes
    assert count(service, User, User.role == "admin", User.disabled_at.is_(None)) == 1


def test_access_cli_refuses_to_revoke_the_last_admin(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from synthgen.cli import commands  # noqa: F401  (registers the commands)
    from synthgen.cli.app import app

    monkeypatch.setenv("SYNTHGEN_DATA_DIR", str(tmp_path / "data"))
    if backend == "sqlite":
        monkeypatch.delenv("SYNTHGEN_DATABASE_URL", raising=False)
    else:
        url = fresh_database(backend, request, tmp_path / "data")
        monkeypatch.setenv("SYNTHGEN_DATABASE_URL", url)
    cli = CliRunner()
    assert cli.invoke(app, ["users", "create", "root", "--role", "admin"]).exit_code == 0
    refused = cli.invoke(app, ["users", "revoke", "root"])
    assert refused.exit_code == 2 and "last active admin" in refused.stderr
    assert "active" in cli.invoke(app, ["users", "list"]).stdout.splitlines()[-1]
    assert cli.invoke(app, ["users", "create", "root2", "--role", "admin"]).exit_code == 0
    assert cli.invoke(app, ["users", "revoke", "root"]).exit_code == 0


# -- 6. quotas, rate limits, keys in URLs ---------------------------------------------------------
@pytest.mark.slow
def test_access_ml_engineer_cannot_queue_unbounded_free_work(make_service: MakeService) -> None:
    env = make_service(
        max_open_jobs_per_user=default("max_open_jobs_per_user"),
        max_open_rows_per_user=default("max_open_rows_per_user"),
    )
    release_id = env.released(cohort_csv(), COHORT_SCHEMA)["release_id"]
    ml = env.headers("ml_engineer")
    before = count(env, Job)
    answers = [
        env.client.post(
            f"/v1/releases/{release_id}/samples", json={"rows": 1_000_000, "seed": i}, headers=ml
        )
        for i in range(20)
    ]
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code != 202]
    assert len(accepted) * 1_000_000 <= default("max_open_rows_per_user")
    assert refused and all(r.status_code == 409 for r in refused)
    assert all(
        "open" in r.json()["detail"] and r.json()["error"] == "QuotaExceeded" for r in refused
    )
    assert count(env, Job) == before + len(accepted)  # a refusal queued nothing


@pytest.mark.slow
def test_access_quota_holds_under_concurrent_requests(make_service: MakeService) -> None:
    """20 sample requests of one ML engineer at once, at a live server: exactly the quota."""
    import httpx

    env = make_service(max_open_jobs_per_user=3)
    release_id = env.released(cohort_csv(), COHORT_SCHEMA)["release_id"]
    headers = env.headers("ml_engineer")
    barrier = threading.Barrier(20)

    def request(seed: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            barrier.wait()
            return client.post(f"/v1/releases/{release_id}/samples", json={"rows": 5, "seed": seed})

    with LiveServer(env.app) as server, ThreadPoolExecutor(20) as pool:
        codes = sorted(r.status_code for r in pool.map(request, range(20)))
    assert codes == [202] * 3 + [409] * 17
    assert count(env, Job, Job.kind == "sample") == 3


@pytest.mark.slow
def test_access_open_jobs_per_user_is_a_quota(make_service: MakeService) -> None:
    env = make_service(max_open_jobs_per_user=2)
    source_id = env.ready_source(cohort_csv(), COHORT_SCHEMA, delta_budget=1e-3)
    assert [env.request_job(source_id).status_code for _ in range(2)] == [202, 202]
    third = env.request_job(source_id)
    assert third.status_code == 409 and "2 open jobs" in third.json()["detail"]
    assert count(env, Job, Job.kind == "synthesize") == 2
    assert count(env, LedgerEntry) == 2  # nothing reserved for the refused job
    env.drain()  # the two end; a new one fits again
    assert env.request_job(source_id).status_code == 202


def test_access_requests_per_minute_per_key_answer_429(make_service: MakeService) -> None:
    env = make_service(requests_per_minute=5)
    auditor, steward = env.headers("auditor"), env.headers("steward")
    assert [env.client.get("/v1/me", headers=auditor).status_code for _ in range(5)] == [200] * 5
    r = env.client.get("/v1/me", headers=auditor)
    assert r.status_code == 429 and "requests per minute" in r.json()["detail"]
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert env.client.get("/v1/me", headers=steward).status_code == 200  # per key
    with env.db.session() as session:
        refusals = session.scalars(
            select(AuditEvent).where(
                AuditEvent.outcome == "refused", AuditEvent.action == "me.read"
            )
        ).all()
    assert len(refusals) == 1 and refusals[0].actor_name == "auditor"
    # unknown keys from one client share one budget: rotating keys does not escape it
    codes = [
        env.client.get("/v1/me", headers={"Authorization": f"Bearer sg_guess{i}"}).status_code
        for i in range(8)
    ]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("SYNTHGEN_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        unavailable(f"Redis at {url}")
    return url


@pytest.mark.slow
def test_access_rate_limit_in_redis_is_shared_by_api_processes(
    service: ServiceEnv, redis_url: str
) -> None:
    """Two API processes on one store and one Redis count one budget per key."""
    first = service.settings.model_copy(
        update={"requests_per_minute": 4, "rate_limit_url": redis_url}
    )
    auditor = service.headers("auditor")
    if time.time() % 60 > 50:  # the windows are clock minutes: start in a fresh one
        time.sleep(61 - time.time() % 60)
    codes = []
    for env in build_service(first):
        for other in build_service(first):
            for client in (env.client, other.client, env.client, other.client, env.client):
                codes.append(client.get("/v1/me", headers=auditor))
    assert [r.status_code for r in codes[:4]] == [200] * 4, [r.text for r in codes]
    assert codes[4].status_code == 429 and 1 <= int(codes[4].headers["Retry-After"]) <= 60
    # Redis down: requests go through (the limit is lost for a while, the service is not)
    down = service.settings.model_copy(
        update={"requests_per_minute": 1, "rate_limit_url": "redis://127.0.0.1:1/0"}
    )
    for env in build_service(down):
        assert [env.client.get("/v1/me", headers=auditor).status_code for _ in range(3)] == [
            200
        ] * 3


def test_access_python_client_waits_out_a_429() -> None:
    import httpx

    from api.client import ClientError, SynthgenClient

    answers = iter(
        [
            httpx.Response(200, json={"state": "running"}),
            httpx.Response(429, json={"detail": "too many"}, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"state": "succeeded"}),
            httpx.Response(429, json={"detail": "too many"}, headers={"Retry-After": "7"}),
        ]
    )
    client = SynthgenClient(transport=httpx.MockTransport(lambda _request: next(answers)))
    assert client.wait("j1", poll=0.01)["state"] == "succeeded"
    with pytest.raises(ClientError) as refused:
        client.me()
    assert refused.value.status == 429 and refused.value.retry_after == 7


@pytest.mark.slow
def test_access_key_in_the_query_string_is_refused(service: ServiceEnv) -> None:
    key = service.key("auditor")
    before = count(service, AuditEvent)
    for url in (
        f"/v1/me?api_key={key}",
        f"/v1/audit?actor={key}",
        f"/v1/jobs?token={key}",
        "/v1/me?api_key=anything",
        "/v1/me?api_key=sg_madeupmadeupmadeupmadeup",
    ):
        r = service.client.get(url, headers=service.headers("auditor"))
        assert r.status_code == 400, url
        assert "Authorization header" in r.json()["detail"] and key not in r.text
    # the three valid keys are recorded under their user (whose key to replace), never the
    # key itself; made-up keys leave nothing
    assert count(service, AuditEvent) == before + 3
    exposed = events(service, "&action=key.exposed")
    assert len(exposed) == 3 and {e["actor_name"] for e in exposed} == {"auditor"}
    assert all(e["outcome"] == "refused" and e["details"]["status"] == 400 for e in exposed)
    with service.db.session() as session:
        stored = [str(e.__dict__) for e in session.scalars(select(AuditEvent)).all()]
    assert not any(key in row or key[3:20] in row for row in stored)
    assert (
        service.client.get(
            "/v1/audit?actor=auditor", headers=service.headers("auditor")
        ).status_code
        == 200
    )


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.slow
def test_access_key_in_the_query_string_never_reaches_a_log(service: ServiceEnv) -> None:
    """A real uvicorn with its access log on (what `synthgen serve` runs)."""
    import httpx

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="info", lifespan="off")
    )
    lines = _Lines()
    loggers = [logging.getLogger(n) for n in ("uvicorn.access", "uvicorn.error", "synthgen", "")]
    for logger in loggers:
        logger.addHandler(lines)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        key = service.key("auditor")
        r = httpx.get(f"http://127.0.0.1:{port}/v1/me?api_key={key}&x=1", timeout=10)
        assert r.status_code == 400
        httpx.get(f"http://127.0.0.1:{port}/v1/audit?actor={key}", timeout=10)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for logger in loggers:
            logger.removeHandler(lines)
    assert any("/v1/me" in line for line in lines.lines), lines.lines  # the access log is on
    assert not any(key in line or key[3:20] in line for line in lines.lines), lines.lines


# -- 7. the audit log ---------------------------------------------------------------------------
@pytest.mark.slow
def test_access_audit_records_refusals_with_actor_object_and_outcome(service: ServiceEnv) -> None:
    source_id = service.ready_source(cohort_csv(), COHORT_SCHEMA, epsilon_budget=1.0)
    bad_key = "sg_" + "x" * 43
    assert (
        service.client.get("/v1/me", headers={"Authorization": f"Bearer {bad_key}"}).status_code
        == 401
    )
    assert service.client.get("/v1/sources").status_code == 401
    ml = service.headers("ml_engineer")
    assert service.client.get(f"/v1/sources/{source_id}", headers=ml).status_code == 403
    over = service.request_job(source_id, epsilon=5.0)
    assert over.status_code == 409 and "exceeds what is left" in over.json()["detail"]
    assert count(service, Job, Job.kind == "synthesize") == 0 and count(service, LedgerEntry) == 0
    refused = events(service, "&outcome=refused")
    by_action = {e["action"]: e for e in refused}
    assert {"me.read", "source.list", "source.read", "job.create"} <= set(by_action), refused
    unknown = [e for e in refused if e["details"]["status"] == 401]
    assert len(unknown) == 2
    assert all(e["actor_name"] == "unknown" and e["actor_id"] is None for e in unknown)
    assert bad_key not in str(refused) and bad_key[3:12] not in str(refused)
    forbidden = by_action["source.read"]
    assert forbidden["actor_name"] == "ml_engineer" and forbidden["actor_role"] == "ml_engineer"
    assert forbidden["object_id"] == source_id and forbidden["source_id"] == source_id
    assert forbidden["details"]["status"] == 403 and forbidden["outcome"] == "refused"
    budget = by_action["job.create"]
    assert budget["source_id"] == source_id and budget["details"]["status"] == 409
    assert budget["actor_name"] == "steward" and budget["at"]
    # the filters
    assert {e["action"] for e in events(service, f"&source_id={source_id}&outcome=refused")} == {
        "source.read",
        "job.create",
    }
    assert all(e["outcome"] == "ok" for e in events(service, "&outcome=ok"))
    assert [e["action"] for e in events(service, "&action=source.read&actor=ml_engineer")] == [
        "source.read"
    ]
    assert len(events(service, "&actor=unknown")) == 2
    assert (
        service.client.get(
            "/v1/audit?outcome=maybe", headers=service.headers("auditor")
        ).status_code
        == 422
    )


@pytest.mark.slow
def test_access_audit_records_settlements_and_reads_of_private_objects(
    service: ServiceEnv,
) -> None:
    job = service.released(cohort_csv(), COHORT_SCHEMA)
    release_id, source_id = job["release_id"], job["source_id"]
    auditor, ml = service.headers("auditor"), service.headers("ml_engineer")
    for path in (
        f"/v1/sources/{source_id}",
        f"/v1/sources/{source_id}/ledger",
        f"/v1/releases/{release_id}/report?format=json",
        f"/v1/releases/{release_id}/certificate",
        f"/v1/releases/{release_id}/data",
    ):
        assert service.client.get(path, headers=auditor).status_code == 200, path
    assert (
        service.client.get(f"/v1/releases/{release_id}/certificate", headers=ml).status_code == 200
    )
    mine = events(service, f"&source_id={source_id}&outcome=ok")
    actions = [(e["action"], e["actor_name"]) for e in mine]
    for read in (
        "source.read",
        "ledger.read",
        "report.read",
        "certificate.read",
        "release.download",
    ):
        assert (read, "auditor") in actions, (read, actions)
    assert ("certificate.read", "ml_engineer") in actions
    settle = [e for e in mine if e["action"] == "ledger.settle"]
    assert len(settle) == 1 and settle[0]["object_id"] == job["id"]
    assert settle[0]["details"]["epsilon_spent"] > 0 and settle[0]["actor_name"].startswith(
        "worker:"
    )
    # a cancelled job settles too, by the steward who cancelled it
    queued = service.request_job(source_id, epsilon=0.1).json()["id"]
    assert (
        service.client.post(
            f"/v1/jobs/{queued}/cancel", headers=service.headers("steward")
        ).status_code
        == 202
    )
    cancelled = events(service, f"&action=ledger.settle&object_id={queued}")
    assert len(cancelled) == 1 and cancelled[0]["actor_name"] == "steward"
    assert cancelled[0]["details"]["epsilon_spent"] == 0.0


# -- 8. smaller ones ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["bad\x00name", "bell\x07", "two\nlines", "esc\x1b[31m", "del\x7f"]
)
def test_access_control_characters_in_a_source_name_are_refused(
    service: ServiceEnv, name: str
) -> None:
    r = service.upload(table=cohort_csv(), schema=COHORT_SCHEMA, name=name)
    assert r.status_code == 422, r.text
    assert "control characters" in r.json()["detail"]
    assert count(service, Source) == 0 and count(service, Job) == 0
    assert private_files(service) == []


@pytest.mark.slow
def test_access_ml_engineers_own_sample_job_hides_its_source(service: ServiceEnv) -> None:
    release_id = service.released(cohort_csv(), COHORT_SCHEMA)["release_id"]
    ml = service.headers("ml_engineer")
    r = service.client.post(f"/v1/releases/{release_id}/samples", json={"rows": 5}, headers=ml)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert service.client.get(f"/v1/jobs/{job_id}", headers=ml).json()["source_id"] is None
    listed = service.client.get("/v1/jobs", headers=ml).json()
    assert listed and all(j["source_id"] is None for j in listed)
    with service.db.session() as session:
        source_id = session.scalar(select(Job.source_id).where(Job.id == job_id))
    probe = service.client.get(f"/v1/jobs?source_id={source_id}", headers=ml)
    assert probe.status_code == 403 and "source" in probe.json()["detail"]
    service.drain()
    done = service.client.get(f"/v1/jobs/{job_id}", headers=ml).json()
    assert done["state"] == "succeeded" and done["source_id"] is None
    # stewards and auditors still see it
    steward_view = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("auditor"))
    assert steward_view.json()["source_id"] == source_id


def test_access_epsilon_spent_keeps_the_last_known_spend_on_resume(service: ServiceEnv) -> None:
    source_id = service.ready_source(cohort_csv(), COHORT_SCHEMA, delta_budget=1e-3)
    job_id = service.request_job(source_id).json()["id"]
    with service.db.transaction() as session:
        session.execute(update(Job).where(Job.id == job_id).values(epsilon_spent=0.42))
    held = leases.claim(service.db, job_id, worker_id="w2", lease_seconds=30)
    assert held is not None
    run = JobRun(service.worker.ctx, held)
    run.kind, run.stage = "synthesize", "train"
    # a resumed trainer reports its set-up stages (no epsilon yet) before its first step
    run.on_progress(ProgressEvent("preprocess", 0, 1))
    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["epsilon_spent"] == pytest.approx(0.42)
    run._last_progress_write = 0.0
    run.on_progress(ProgressEvent("train", 3, 10, 0.5))
    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["epsilon_spent"] == pytest.approx(0.5)


# -- the migration of the audit log ---------------------------------------------------------------
@pytest.fixture
def empty_store(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A store with no tables yet (PostgreSQL: a database of its own, dropped after)."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()
        return
    admin_url = os.environ.get("SYNTHGEN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        admin = _psycopg_connect(admin_url)
    except Exception:
        unavailable("PostgreSQL")
    name = f"synthgen_mig_{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(make_url(admin_url).set(database=name))
    try:
        yield db
    finally:
        db.dispose()
        with _psycopg_connect(admin_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_access_audit_migration_keeps_earlier_events(empty_store: Database) -> None:
    cfg = alembic_config(empty_store)
    with empty_store.engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text(
                "INSERT INTO audit_events (at, actor_name, action, object_type, object_id, details)"
                " VALUES (:at, 'alice', :action, :type, :id, '{}')"
            ),
            [
                {"at": utcnow(), "action": "source.upload", "type": "source", "id": "s1"},
                {"at": utcnow(), "action": "user.create", "type": "user", "id": "u1"},
            ],
        )
    upgrade_head(empty_store)
    with empty_store.session() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.outcome, e.source_id) for e in rows] == [
        ("source.upload", "ok", "s1"),
        ("user.create", "ok", None),
    ]


# -- found by the fuzzer --------------------------------------------------------------------------
@pytest.mark.slow
def test_access_negative_class_counts_are_422_not_500(service: ServiceEnv) -> None:
    job = service.released(cohort_csv(), COHORT_SCHEMA)
    before = count(service, Job)
    bad = {"0": -5, "1": 10}  # sums to a positive number of records
    r = service.client.post(
        f"/v1/releases/{job['release_id']}/samples",
        json={"class_counts": bad},
        headers=service.headers("ml_engineer"),
    )
    assert r.status_code == 422, r.text
    r = service.request_job(job["source_id"], rows=None, class_counts=bad)
    assert r.status_code == 422, r.text
    assert count(service, Job) == before
