"""The Celery executor on a real Redis broker: jobs travel through the broker to a
``synthgen worker --celery`` process; a duplicate delivery never runs a job twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.service import (
    COHORT_SCHEMA,
    DEFAULT_REDIS,
    REPO,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
    unavailable,
)
from tests.support.workers import worker_env

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("SYNTHGEN_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        unavailable(f"Redis at {url}")
    return url


@pytest.fixture
def celery_service(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> Iterator[ServiceEnv]:
    import redis

    data_dir = tmp_path / "data"
    url = fresh_database(backend, request, data_dir)
    queue = f"synthgen-test-{uuid.uuid4().hex[:8]}"  # a queue of our own on a shared Redis
    settings = make_settings(
        data_dir, url, executor="celery", broker_url=redis_url, celery_queue=queue
    )
    yield from build_service(settings)
    for name in (queue, f"{queue}.gpu"):
        redis.Redis.from_url(redis_url).delete(
            name, f"{name}\x06\x163", f"{name}\x06\x166", f"{name}\x06\x169"
        )


def wait_state(
    env: ServiceEnv, job_id: str, role: str = "steward", timeout: float = 90
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(env.client.get(f"/v1/jobs/{job_id}", headers=env.headers(role)).json())
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"job still {body['state']}")
        time.sleep(0.2)


def test_celery_worker_runs_jobs_from_the_broker(
    celery_service: ServiceEnv, tmp_path: Path
) -> None:
    env = celery_service
    assert env.client.get("/ready").json()["executor"] == "ok"
    log = (tmp_path / "celery.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from synthgen.cli import main; main()",
            "worker",
            "--celery",
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=worker_env(
            env.settings,
            SYNTHGEN_BROKER_URL=env.settings.broker_url,
            SYNTHGEN_CELERY_QUEUE=env.settings.celery_queue,
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        up = env.upload(table=cohort_csv(), schema=COHORT_SCHEMA)
        assert up.status_code == 201
        check = wait_state(env, up.json()["check_job_id"])
        assert check["state"] == "succeeded", check
        job = env.request_job(up.json()["id"], epsilon=2.0)
        done = wait_state(env, job.json()["id"])
        assert done["state"] == "succeeded", (done, (tmp_path / "celery.log").read_text()[-2000:])
        assert done["attempts"] == 1
        steward, ml = env.headers("steward"), env.headers("ml_engineer")
        release = str(done["release_id"])
        assert (
            env.client.post(f"/v1/releases/{release}/approve", headers=steward).status_code == 200
        )
        more = env.client.post(
            f"/v1/releases/{release}/samples", json={"rows": 7, "seed": 2}, headers=ml
        )
        assert wait_state(env, more.json()["id"], role="ml_engineer")["state"] == "succeeded"

        # a duplicate delivery (acks_late redelivery, a recovery sweep) finds the job done
        env.app.state.services.dispatcher.submit(str(done["id"]), "synthesize", "tabular")
        time.sleep(2)
        again = env.client.get(f"/v1/jobs/{done['id']}", headers=steward).json()
        assert again["attempts"] == 1 and again["state"] == "succeeded"
        ledger = env.client.get(f"/v1/sources/{up.json()['id']}/ledger", headers=steward).json()
        assert len(ledger["entries"]) == 1 and ledger["epsilon_reserved"] == 0.0
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()


def test_celery_broker_down_keeps_the_job_queued(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The job row is the truth: with no broker the request still succeeds and the job
    waits in the store for a worker to re-send it; /ready says the executor is down."""
    data_dir = tmp_path / "data"
    url = fresh_database("sqlite", request, data_dir)
    settings = make_settings(data_dir, url, executor="celery", broker_url="redis://127.0.0.1:1/0")
    for env in build_service(settings):
        source = env.ready_source(cohort_csv(), None)
        job = env.request_job(source)
        assert job.status_code == 202
        assert (
            env.client.get(f"/v1/jobs/{job.json()['id']}", headers=env.headers("steward")).json()[
                "state"
            ]
            == "queued"
        )
        ready = env.client.get("/ready")
        assert ready.status_code == 503 and ready.json()["executor"].startswith("unavailable")


def test_a_gpu_worker_takes_the_gpu_queue_and_the_rest(
    celery_service: ServiceEnv, tmp_path: Path
) -> None:
    """A worker started with --devices gpu answers the router's probe, so image training
    is routed to it; it also runs the CPU queue's jobs (here a source check). Once it is
    gone, the router sends image jobs to the CPU queue again."""
    from pipelines.celery_app import create_celery, make_router

    env = celery_service
    queue = env.settings.celery_queue
    log = (tmp_path / "celery.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-c", "from synthgen.cli import main; main()", "worker", "--celery",
         "--devices", "gpu", "--log-level", "info"],
        cwd=REPO,
        env=worker_env(
            env.settings,
            SYNTHGEN_BROKER_URL=env.settings.broker_url,
            SYNTHGEN_CELERY_QUEUE=queue,
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = create_celery(env.settings)
    try:
        up = env.upload(table=cohort_csv(), schema=COHORT_SCHEMA)
        assert wait_state(env, up.json()["check_job_id"])["state"] == "succeeded"
        deadline = time.monotonic() + 30
        while not make_router(app, queue).gpu_workers():
            assert time.monotonic() < deadline, (tmp_path / "celery.log").read_text()[-2000:]
            time.sleep(0.5)
        router = make_router(app, queue)
        assert router.queue_for("synthesize", "image") == f"{queue}.gpu"
        assert router.queue_for("synthesize", "tabular") == queue
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        log.close()
    banner = (tmp_path / "celery.log").read_text()  # Celery lists the queues it consumes
    assert f".> {queue}.gpu " in banner and f".> {queue} " in banner
    assert make_router(app, queue).queue_for("synthesize", "image") == queue
