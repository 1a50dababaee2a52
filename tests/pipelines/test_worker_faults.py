"""A worker killed mid-training (SIGKILL): the job is picked up again, resumes from its
checkpoint with the accountant state intact, and the ledger is charged once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.service import COHORT_SCHEMA, ServiceEnv
from tests.support.workers import start_worker

pytestmark = pytest.mark.slow


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def test_worker_sigkill_mid_training_resumes_from_checkpoint(
    service: ServiceEnv, cohort: bytes, tmp_path: Path
) -> None:
    source_id = service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=5.0)
    job_id = service.request_job(source_id, epsilon=3.0).json()["id"]
    run_dir = service.settings.private_dir / "runs" / job_id
    checkpoint = run_dir / "checkpoint" / "state.json"
    knobs = {
        "SYNTHGEN_FAKE_STEPS": "40",
        "SYNTHGEN_FAKE_STEP_SECONDS": "0.1",
        "SYNTHGEN_FAKE_CHECKPOINT_EVERY": "4",
    }
    log = tmp_path / "workers.log"

    first = start_worker(service.settings, log, **knobs)
    try:
        wait_until(
            lambda: checkpoint.exists() and json.loads(checkpoint.read_text())["step"] >= 8,
            60,
            "no checkpoint",
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = json.loads(checkpoint.read_text())["step"]
    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["state"] == "running" and status["attempts"] == 1  # the store still says running
    assert 0 < status["epsilon_spent"] < 3.0

    second = start_worker(service.settings, log, **knobs)
    try:

        def finished() -> bool:
            s = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
            return s["state"] in ("succeeded", "failed", "cancelled")

        wait_until(finished, 90, "the job did not finish after the restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["state"] == "succeeded", (status, log.read_text()[-3000:])
    assert status["attempts"] == 2
    attempts = [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]
    assert [a["resume"] for a in attempts] == [False, True]
    assert (
        attempts[1]["start"] >= killed_at - 4 and attempts[1]["start"] > 0
    )  # from its last checkpoint
    ledger = service.client.get(
        f"/v1/sources/{source_id}/ledger", headers=service.headers("steward")
    ).json()
    assert len(ledger["entries"]) == 1
    assert ledger["entries"][0]["state"] == "settled"
    assert (
        ledger["epsilon_spent"] == pytest.approx(3.0 * 0.97) and ledger["epsilon_reserved"] == 0.0
    )
