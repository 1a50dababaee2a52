"""API latency under concurrent clients, on SQLite and PostgreSQL.

Starts the API as its own process (uvicorn, one worker), seeds a store (users, a source,
N jobs, an approved release of 100k synthetic rows), then drives it with asyncio + httpx:

1. GET /v1/jobs/{id}      (job status, what clients poll), 50 concurrent clients
2. GET /v1/jobs?limit=50  (listing), 50 concurrent clients
3. GET /v1/releases/{id}/data (CSV download of the 100k-row release), 10 concurrent clients

and prints p50/p99 latency and requests per second for each. No training runs: the store
is filled directly, so this measures the service, not the ML.

    python benchmarks/api_latency.py                       # SQLite, and PostgreSQL if reachable
    python benchmarks/api_latency.py --backends sqlite --duration 5
    SYNTHGEN_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        python benchmarks/api_latency.py --backends postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines import auth  # noqa: E402
from pipelines.artifacts import ArtifactStore  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.store import Database, upgrade_head  # noqa: E402
from pipelines.store.models import Job, Release, Source, utcnow  # noqa: E402

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Seeded:
    key: str
    job_ids: list[str]
    release_id: str
    release_bytes: int


def seed(settings: Settings, *, jobs: int, rows: int) -> Seeded:
    db = Database(settings.sqlalchemy_url)
    upgrade_head(db)
    store = ArtifactStore(settings)
    store.ensure_layout()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "sex": rng.choice(["F", "M"], rows),
            "bmi": np.round(rng.uniform(15, 45, rows), 1),
            "glucose": rng.integers(50, 250, rows),
            "outcome": rng.integers(0, 2, rows),
        }
    )
    with store.staging("bench-") as tmp:
        frame.to_csv(tmp / "synthetic.csv", index=False)
        blob, _ = store.release_blobs.put(tmp / "synthetic.csv", suffix=".csv")
    with db.transaction() as session:
        issued = auth.create_user(
            session, name="bench", role="steward", actor=auth.operator("bench")
        )
        steward = issued.user
        source = Source(
            owner_id=steward.id,
            name="bench",
            modality="tabular",
            file_format="csv",
            target="outcome",
            data_ref=None,
            data_sha256="0" * 64,
            size_bytes=0,
            n_records=rows,
            columns=list(frame.columns),
            state="ready",
            epsilon_budget=1e6,
            delta_budget=1e-3,
        )
        session.add(source)
        session.flush()
        now = utcnow()
        job_rows = []
        for i in range(jobs):
            state = ("succeeded", "failed", "running", "queued")[i % 4]
            job_rows.append(
                Job(
                    kind="synthesize",
                    modality="tabular",
                    source_id=source.id,
                    created_by=steward.id,
                    spec={"kind": "synthesize_tabular"},
                    state=state,
                    stage="report" if state == "succeeded" else "train",
                    progress=100.0 if state == "succeeded" else 40.0,
                    epsilon_reserved=1.0,
                    delta_reserved=1e-6,
                    epsilon_spent=0.97,
                    outputs={},
                    created_at=now - timedelta(seconds=jobs - i),
                )
            )
        session.add_all(job_rows)
        session.flush()
        release = Release(
            source_id=source.id,
            job_id=job_rows[0].id,
            modality="tabular",
            state="approved",
            model_ref="models/none",
            model_sha256="0" * 64,
            files={"csv": blob.as_dict()},
            n_records=rows,
            seed=0,
            certificate={"epsilon": 0.97, "private": True},
            epsilon=0.97,
            delta=1e-6,
            private=True,
            created_by=steward.id,
            decided_by=steward.id,
            decided_at=now,
        )
        session.add(release)
        session.flush()
        seeded = Seeded(issued.key, [j.id for j in job_rows], release.id, blob.size)
    db.dispose()
    return seeded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        SYNTHGEN_DATA_DIR=str(settings.data_dir),
        SYNTHGEN_DATABASE_URL=settings.sqlalchemy_url,
        # a load test: 50 clients on one key send thousands of requests a minute
        SYNTHGEN_REQUESTS_PER_MINUTE="0",
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API did not start")


@dataclass
class Result:
    name: str
    clients: int
    latencies: list[float]
    errors: int
    seconds: float
    nbytes: int = 0

    def row(self) -> str:
        lat = sorted(self.latencies)
        p50 = statistics.median(lat) * 1000 if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
        rps = len(lat) / self.seconds
        extra = f"  {self.nbytes / self.seconds / 2**20:7.1f} MiB/s" if self.nbytes else ""
        return (
            f"{self.name:34s} {self.clients:4d} {len(lat):8d} {self.errors:6d} "
            f"{p50:9.1f} {p99:9.1f} {rps:9.1f}{extra}"
        )


async def drive(
    url: str, key: str, name: str, paths: list[str], clients: int, seconds: float
) -> Result:
    latencies: list[float] = []
    errors = 0
    nbytes = 0
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, limits=limits, timeout=120
    ) as client:

        async def one(worker: int) -> None:
            nonlocal errors, nbytes
            i = worker
            while time.monotonic() < stop:
                path = paths[i % len(paths)]
                i += clients
                t0 = time.perf_counter()
                response = await client.get(path)
                body = await response.aread()
                elapsed = time.perf_counter() - t0
                if response.status_code == 200:
                    latencies.append(elapsed)
                    nbytes += len(body)
                else:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(one(w) for w in range(clients)))
        elapsed = time.monotonic() - started
    return Result(name, clients, latencies, errors, elapsed, nbytes if "data" in name else 0)


def run_backend(name: str, url: str | None, args: argparse.Namespace) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", database_url=url)
        seeded = seed(settings, jobs=args.jobs, rows=args.rows)
        port = free_port()
        server = start_server(settings, port)
        base = f"http://127.0.0.1:{port}"
        try:
            warm = [f"/v1/jobs/{j}" for j in seeded.job_ids[:20]]
            asyncio.run(drive(base, seeded.key, "warm-up", warm, 4, 1.0))
            status = [f"/v1/jobs/{j}" for j in seeded.job_ids]
            results = [
                asyncio.run(
                    drive(
                        base,
                        seeded.key,
                        f"{name}: GET /v1/jobs/{{id}}",
                        status,
                        args.clients,
                        args.duration,
                    )
                ),
                asyncio.run(
                    drive(
                        base,
                        seeded.key,
                        f"{name}: GET /v1/jobs?limit=50",
                        ["/v1/jobs?limit=50"],
                        args.clients,
                        args.duration,
                    )
                ),
                asyncio.run(
                    drive(
                        base,
                        seeded.key,
                        f"{name}: GET release data (CSV)",
                        [f"/v1/releases/{seeded.release_id}/data"],
                        args.download_clients,
                        args.duration,
                    )
                ),
            ]
        finally:
            server.terminate()
            server.wait(30)
        print(
            f"# {name}: {args.rows} rows release = {seeded.release_bytes / 2**20:.1f} MiB CSV; {args.jobs} jobs in the store",
            flush=True,
        )
        return results


def postgres_database(admin_url: str) -> tuple[str, Any, str]:
    """Create a throwaway database; returns its URL, an admin connection and its name."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(admin_url)
    conn = psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password,
        dbname=u.database or "postgres",
        autocommit=True,
        connect_timeout=3,
    )
    name = f"synthgen_bench_{uuid.uuid4().hex[:8]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    return u.set(database=name).render_as_string(hide_password=False), conn, name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--download-clients", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SYNTHGEN_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    args = parser.parse_args()
    results: list[Result] = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            results += run_backend("sqlite", None, args)
        elif backend == "postgresql":
            try:
                url, conn, name = postgres_database(args.postgres_url)
            except Exception as exc:
                print(f"# postgresql skipped: {type(exc).__name__}: {exc}", flush=True)
                continue
            try:
                results += run_backend("postgresql", url, args)
            finally:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.close()
    print(
        f"\n{'measurement':34s} {'cl.':>4s} {'requests':>8s} {'errors':>6s} {'p50 ms':>9s} {'p99 ms':>9s} {'req/s':>9s}"
    )
    for r in results:
        print(r.row())
    print(
        f"\n(machine: {os.cpu_count()} CPUs; server: one uvicorn process; load generator in this process)"
    )


if __name__ == "__main__":
    main()
