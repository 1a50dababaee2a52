"""Fixtures for the service tests: a fresh store per test on SQLite and PostgreSQL, an app
with a TestClient, users of each role, an in-process worker on the fake ML library.

PostgreSQL: SYNTHGEN_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
names a server and a database to connect to; the tests create their own database
(synthgen_test_<random>) for the session and drop it at the end. Redis:
SYNTHGEN_TEST_REDIS_URL (default redis://127.0.0.1:6379/15). Without a server the tests that
need it are skipped, unless SYNTHGEN_TEST_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import io
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.main import create_app
from pipelines import auth
from pipelines.runner import WorkerContext
from pipelines.settings import Settings
from pipelines.store import Database, upgrade_head
from pipelines.worker import LocalWorker

FAKE_LIBRARY = "tests.support.fakes:FakeLibrary"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
TABLES = ("audit_events", "ledger_entries", "releases", "jobs", "api_keys", "sources", "users")
REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("SYNTHGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


def services_required() -> bool:
    return os.environ.get("SYNTHGEN_TEST_REQUIRE_SERVICES") == "1"


def unavailable(what: str) -> None:
    if services_required():
        pytest.fail(f"{what} is not reachable and SYNTHGEN_TEST_REQUIRE_SERVICES=1")
    pytest.skip(f"{what} is not reachable")


# -- databases ---------------------------------------------------------------------------------
def _psycopg_connect(url: str) -> Any:
    import psycopg

    u = make_url(url)
    return psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname=u.database or "postgres",
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    admin_url = os.environ.get("SYNTHGEN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        admin = _psycopg_connect(admin_url)
    except Exception:
        unavailable(f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)}")
    name = f"synthgen_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade_head(db)
    db.dispose()
    try:
        yield url
    finally:
        with _psycopg_connect(admin_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "synthgen.db"
    db = Database(f"sqlite:///{path}")
    upgrade_head(db)
    db.dispose()
    return path


def fresh_database(backend: str, request: pytest.FixtureRequest, data_dir: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, data_dir / "synthgen.db")
        return f"sqlite:///{data_dir / 'synthgen.db'}"
    url: str = request.getfixturevalue("postgres_url")
    db = Database(url, pool_size=1)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    db.dispose()
    return url


# -- the service -------------------------------------------------------------------------------
@dataclass
class ServiceEnv:
    settings: Settings
    app: FastAPI
    client: TestClient
    _worker: LocalWorker | None = None
    _keys: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        db: Database = self.app.state.services.db
        return db

    def key(self, role: str, name: str | None = None) -> str:
        """An API key for a (new) user of ``role``; the same one per name."""
        name = name or role
        if name not in self._keys:
            with self.db.transaction() as session:
                issued = auth.create_user(
                    session, name=name, role=role, actor=auth.operator("tests")
                )
            self._keys[name] = issued.key
        return self._keys[name]

    def headers(self, role: str, name: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(role, name)}"}

    @property
    def worker(self) -> LocalWorker:
        if self._worker is None:
            self._worker = LocalWorker(
                WorkerContext.create(self.settings, db=self.db, worker_id="test-worker")
            )
        return self._worker

    def drain(self, limit: int = 20) -> int:
        """Run queued jobs in this process until none is left; returns how many ran."""
        ran = 0
        while ran < limit and self.worker.run_once():
            ran += 1
        return ran

    # -- shortcuts for common flows --------------------------------------------------------
    def upload(
        self,
        *,
        table: bytes,
        schema: bytes | None = None,
        name: str = "cohort",
        target: str | None = "outcome",
        epsilon_budget: float = 10.0,
        filename: str = "cohort.csv",
        owner: str = "steward",
        **form: Any,
    ) -> Any:
        files: dict[str, Any] = {"file": (filename, io.BytesIO(table), "text/csv")}
        if schema is not None:
            files["schema"] = ("schema.yaml", io.BytesIO(schema), "application/yaml")
        data = {
            "name": name,
            "epsilon_budget": str(epsilon_budget),
            **{k: str(v) for k, v in form.items()},
        }
        if target is not None:
            data["target"] = target
        return self.client.post(
            "/v1/sources", files=files, data=data, headers=self.headers("steward", owner)
        )

    def ready_source(self, table: bytes, schema: bytes | None = None, **kw: Any) -> str:
        response = self.upload(table=table, schema=schema, **kw)
        assert response.status_code == 201, response.text
        self.drain()
        return str(response.json()["id"])

    def request_job(
        self,
        source_id: str,
        *,
        epsilon: float = 1.0,
        rows: int = 50,
        owner: str = "steward",
        **kw: Any,
    ) -> Any:
        body = {"source_id": source_id, "epsilon": epsilon, "rows": rows, "seed": 7, **kw}
        return self.client.post("/v1/jobs", json=body, headers=self.headers("steward", owner))

    def released(
        self, table: bytes, schema: bytes | None = None, *, approve: bool = True
    ) -> dict[str, Any]:
        """Upload, synthesize, (approve); returns the job as JSON."""
        source_id = self.ready_source(table, schema)
        job = self.request_job(source_id)
        assert job.status_code == 202, job.text
        self.drain()
        body = self.client.get(
            f"/v1/jobs/{job.json()['id']}", headers=self.headers("steward")
        ).json()
        assert body["state"] == "succeeded", body
        if approve:
            r = self.client.post(
                f"/v1/releases/{body['release_id']}/approve",
                json={"reason": "ok"},
                headers=self.headers("steward"),
            )
            assert r.status_code == 200, r.text
        return dict(body)


def make_settings(data_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "library": FAKE_LIBRARY,
        "lease_seconds": 5.0,
        "poll_seconds": 0.1,
        "executor": "local",
        # quotas and the rate limit are tested in test_hostile_access.py with their
        # defaults; the other tests send more requests and queue more jobs than they allow
        "requests_per_minute": 0,
        "max_open_jobs_per_user": 0,
        "max_open_rows_per_user": 0,
    }
    values.update(overrides)
    return Settings(**values)


def build_service(settings: Settings) -> Iterator[ServiceEnv]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield ServiceEnv(settings=settings, app=app, client=client)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceEnv]:
    """The service on a fresh store, once per backend."""
    data_dir = tmp_path / "data"
    url = fresh_database(backend, request, data_dir)
    yield from build_service(make_settings(data_dir, url))


@pytest.fixture
def sqlite_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceEnv]:
    """The service on SQLite only (behaviour that does not depend on the store)."""
    data_dir = tmp_path / "data"
    url = fresh_database("sqlite", request, data_dir)
    yield from build_service(make_settings(data_dir, url))


# -- data --------------------------------------------------------------------------------------
def cohort_csv(rows: int = 60, *, seed: int = 1) -> bytes:
    """A small made-up cohort (no real records)."""
    import random

    rng = random.Random(seed)
    lines = ["age,sex,bmi,outcome"]
    for _ in range(rows):
        lines.append(
            f"{rng.randint(20, 80)},{rng.choice('FM')},{rng.uniform(17, 40):.1f},{rng.randint(0, 1)}"
        )
    return ("\n".join(lines) + "\n").encode()


COHORT_SCHEMA = b"""\
version: 1
draft: false
columns:
  - {name: age, kind: integer, min: 18, max: 90}
  - {name: sex, kind: categorical, categories: [F, M]}
  - {name: bmi, kind: continuous, min: 10, max: 60}
  - {name: outcome, kind: categorical, role: label, categories: ["0", "1"]}
"""


@pytest.fixture
def cohort() -> bytes:
    return cohort_csv()
