"""Console page latency on a large store: 1,000 sources, 10,000 jobs (with their ledger
entries), 1,000 releases and 100,000 audit events, on SQLite and PostgreSQL.

Pages are requested in-process (TestClient, a signed-in session), one at a time, so the
numbers are the server's time (routing, session check, queries, template) without a
network. The target (issue 24) is p95 under 300 ms per page.

    python benchmarks/ui_pages.py                              # SQLite
    python benchmarks/ui_pages.py --backends sqlite postgresql --requests 50
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from api.main import create_app  # noqa: E402
from pipelines import auth  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.store import Database, upgrade_head  # noqa: E402
from pipelines.store.models import (  # noqa: E402
    AuditEvent,
    Job,
    LedgerEntry,
    Release,
    Source,
    new_id,
    utcnow,
)

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_P95_MS = 300.0
ACTIONS = ("source.read", "job.create", "release.download", "report.read", "ledger.read",
           "release.approve", "certificate.read", "job.read")


def seed(db: Database, *, sources: int, jobs_per_source: int, events: int) -> dict[str, Any]:
    rng = random.Random(0)
    keys: dict[str, str] = {}
    users: dict[str, str] = {}
    with db.transaction() as session:
        for role in ("steward", "auditor", "ml_engineer", "admin"):
            issued = auth.create_user(session, name=f"bench-{role}", role=role,
                                      actor=auth.operator("bench"))
            keys[role], users[role] = issued.key, issued.user.id
    now = utcnow()
    source_rows, job_rows, ledger_rows, release_rows = [], [], [], []
    for i in range(sources):
        sid = new_id()
        source_rows.append(dict(
            id=sid, owner_id=users["steward"], name=f"cohort {i}", modality="tabular",
            file_format="csv", target="outcome", data_ref=None, data_sha256="0" * 64,
            size_bytes=1000, n_records=5000, columns=["age", "sex", "outcome"],
            state="ready", epsilon_budget=100.0, delta_budget=1e-4,
            created_at=now - timedelta(minutes=i),
        ))
        for j in range(jobs_per_source):
            jid = new_id()
            job_rows.append(dict(
                id=jid, kind="synthesize", modality="tabular", source_id=sid,
                created_by=users["steward"], spec={"rows": 100}, state="succeeded",
                stage="report", progress=100.0, epsilon_reserved=1.0, delta_reserved=1e-6,
                epsilon_spent=0.97, outputs={}, created_at=now - timedelta(minutes=i, seconds=j),
                updated_at=now,
            ))
            ledger_rows.append(dict(
                source_id=sid, job_id=jid, state="settled", epsilon_reserved=1.0,
                delta_reserved=1e-6, epsilon_spent=0.97, delta_spent=1e-6, settled_at=now,
            ))
            if j == 0:
                release_rows.append(dict(
                    id=new_id(), source_id=sid, job_id=jid, modality="tabular",
                    state="approved", model_ref="x", model_sha256="0" * 64,
                    files={"csv": {"sha256": "0" * 64, "size": 100, "ref": "x"}},
                    n_records=100, seed=0, class_counts=None,
                    certificate={"epsilon": 0.97, "delta": 1e-6, "unit": "one row"},
                    epsilon=0.97, delta=1e-6, private=True, report={}, verdict="pass",
                    created_by=users["steward"], created_at=now - timedelta(minutes=i),
                ))
    event_rows = [
        dict(
            at=now - timedelta(seconds=k), actor_id=users["steward"], actor_name="bench-steward",
            actor_role="steward", action=rng.choice(ACTIONS), object_type="source",
            object_id=rng.choice(source_rows)["id"], details={"n": k},
            outcome="refused" if k % 50 == 0 else "ok",
            source_id=rng.choice(source_rows)["id"],
        )
        for k in range(events)
    ]
    with db.transaction() as session:
        for model, rows in ((Source, source_rows), (Job, job_rows), (LedgerEntry, ledger_rows),
                            (Release, release_rows), (AuditEvent, event_rows)):
            for start in range(0, len(rows), 5000):
                session.execute(insert(model), rows[start:start + 5000])
    return {
        "keys": keys,
        "source": source_rows[sources // 2]["id"],
        "job": job_rows[len(job_rows) // 2]["id"],
        "release": release_rows[len(release_rows) // 2]["id"],
    }


def signed_in(app: Any, key: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/ui/login").text
    token = form.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/ui/login", data={"key": key, "csrf_token": token},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def measure(client: TestClient, path: str, n: int) -> list[float]:
    client.get(path)  # warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


def run(backend: str, args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        pg_name = None
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'synthgen.db'}"
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            admin = make_url(os.environ.get("SYNTHGEN_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
            pg_name = f"synthgen_bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(host=admin.host, port=admin.port or 5432,
                                 user=admin.username, password=admin.password,
                                 dbname=admin.database, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            url = admin.set(database=pg_name).render_as_string(hide_password=False)
        try:
            db = Database(url)
            upgrade_head(db)
            start = time.perf_counter()
            ids = seed(db, sources=args.sources, jobs_per_source=args.jobs // args.sources,
                       events=args.events)
            if backend == "postgresql":
                with db.engine.begin() as conn:
                    conn.execute(text("ANALYZE"))
            db.dispose()
            print(f"[{backend}] seeded in {time.perf_counter() - start:.1f} s")
            settings = Settings(data_dir=data_dir, database_url=url, requests_per_minute=0,
                                library="pipelines.library:SynthgenLibrary")
            app = create_app(settings)
            ok = True
            with TestClient(app):
                steward = signed_in(app, ids["keys"]["steward"])
                auditor = signed_in(app, ids["keys"]["auditor"])
                ml = signed_in(app, ids["keys"]["ml_engineer"])
                admin_client = signed_in(app, ids["keys"]["admin"])
                pages = [
                    ("steward", steward, "/ui/sources"),
                    ("steward", steward, f"/ui/sources/{ids['source']}"),
                    ("steward", steward, f"/ui/jobs/{ids['job']}"),
                    ("steward", steward, f"/ui/jobs/{ids['job']}/status"),
                    ("steward", steward, f"/ui/releases/{ids['release']}"),
                    ("ml_engineer", ml, "/ui/releases"),
                    ("auditor", auditor, "/ui/releases"),
                    ("auditor", auditor, "/ui/audit"),
                    ("auditor", auditor, f"/ui/audit?source_id={ids['source']}"),
                    ("auditor", auditor, "/ui/audit?action=release.approve&outcome=refused"),
                    ("auditor", auditor, "/ui/audit?user=bench-steward&page=50"),
                    ("admin", admin_client, "/ui/admin"),
                ]
                print(f"{'role':12} {'page':60} {'p50 ms':>8} {'p95 ms':>8}")
                for role, client, path in pages:
                    times = measure(client, path, args.requests)
                    p50 = statistics.median(times)
                    p95 = statistics.quantiles(times, n=20)[-1]
                    flag = "" if p95 <= TARGET_P95_MS else "  OVER TARGET"
                    ok = ok and not flag
                    print(f"{role:12} {path[:60]:60} {p50:8.1f} {p95:8.1f}{flag}")
            return ok
        finally:
            if pg_name:
                import psycopg

                with psycopg.connect(host=admin.host, port=admin.port or 5432,
                                     user=admin.username, password=admin.password,
                                     dbname=admin.database, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["sqlite"],
                        choices=["sqlite", "postgresql"])
    parser.add_argument("--sources", type=int, default=1_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30, help="per page")
    args = parser.parse_args()
    results = [run(backend, args) for backend in args.backends]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
