"""Jobs: request validation, cancellation, failures, retries, shutdown, leases."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from pipelines import leases
from pipelines.leases import LeaseLost
from pipelines.runner import JobRun
from pipelines.store.models import Job, utcnow
from tests.support.service import COHORT_SCHEMA, ServiceEnv, cohort_csv


@pytest.fixture
def source_id(service: ServiceEnv, cohort: bytes) -> str:
    return service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=10.0, delta_budget=1e-3)


def job_status(env: ServiceEnv, job_id: str) -> dict[str, object]:
    return dict(env.client.get(f"/v1/jobs/{job_id}", headers=env.headers("steward")).json())


def ledger_of(env: ServiceEnv, source_id: str) -> dict[str, object]:
    return dict(
        env.client.get(f"/v1/sources/{source_id}/ledger", headers=env.headers("steward")).json()
    )


def attempts_log(env: ServiceEnv, job_id: str) -> list[dict[str, object]]:
    path = env.settings.private_dir / "runs" / job_id / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_in_background(env: ServiceEnv) -> threading.Thread:
    thread = threading.Thread(target=env.drain, daemon=True)
    thread.start()
    return thread


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"epsilon": 0}, "greater than 0"),
        ({"epsilon": -1}, "greater than 0"),
        ({"rows": 10, "class_counts": {"0": 3, "1": 3}}, "differs from the sum"),
        ({"rows": None}, "give rows"),
        ({"rows": 10, "delta": 0.5}, "1/N"),
        ({"rows": 10, "target": "nope"}, "not in source"),
        ({"rows": 10, "surprise": 1}, "extra"),
        ({"rows": 10**8}, "at most"),
        ({"rows": 0}, "greater than 0"),
    ],
)
def test_jobs_bad_requests_get_422_with_a_reason(
    service: ServiceEnv, source_id: str, body: dict[str, object], words: str
) -> None:
    payload = {"source_id": source_id, "epsilon": 1.0, "seed": 1, **body}
    r = service.client.post(
        "/v1/jobs",
        json={k: v for k, v in payload.items() if v is not None},
        headers=service.headers("steward"),
    )
    assert r.status_code == 422, r.text
    assert words in r.text
    assert ledger_of(service, source_id)["entries"] == []


def test_jobs_on_another_stewards_source_are_404(service: ServiceEnv, source_id: str) -> None:
    r = service.request_job(source_id, owner="someone-else")
    assert r.status_code == 404 and ledger_of(service, source_id)["entries"] == []


def test_jobs_cancel_a_queued_job_costs_nothing(service: ServiceEnv, source_id: str) -> None:
    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    r = service.client.post(f"/v1/jobs/{job_id}/cancel", headers=service.headers("steward"))
    assert r.status_code == 202 and r.json()["state"] == "cancelled"
    ledger = ledger_of(service, source_id)
    assert ledger["epsilon_reserved"] == 0.0 and ledger["epsilon_spent"] == 0.0
    assert service.drain() == 0  # nothing left to run
    again = service.client.post(f"/v1/jobs/{job_id}/cancel", headers=service.headers("steward"))
    assert again.status_code == 409


@pytest.mark.slow
def test_jobs_cancel_while_training_pays_for_the_steps_that_ran(
    service: ServiceEnv, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHGEN_FAKE_STEPS", "200")
    monkeypatch.setenv("SYNTHGEN_FAKE_STEP_SECONDS", "0.02")
    job_id = service.request_job(source_id, epsilon=4.0).json()["id"]
    worker = run_in_background(service)
    seen: list[float] = []

    def training_has_spent() -> bool:
        s = job_status(service, job_id)
        if s["stage"] == "train" and s["epsilon_spent"]:
            seen.append(float(s["epsilon_spent"]))  # type: ignore[arg-type]
        return len(seen) >= 2

    wait_for(training_has_spent)
    assert seen[-1] >= seen[0] > 0  # live epsilon, readable while it trains
    assert service.client.post(
        f"/v1/jobs/{job_id}/cancel", headers=service.headers("steward")
    ).json()["cancel_requested"]
    worker.join(30)
    status = job_status(service, job_id)
    assert status["state"] == "cancelled" and status["release_id"] is None
    spent = float(status["epsilon_spent"])  # type: ignore[arg-type]
    assert 0 < spent < 4.0 * 0.97
    entry = ledger_of(service, source_id)["entries"][0]  # type: ignore[index]
    assert entry["state"] == "settled" and entry["epsilon_spent"] == pytest.approx(spent)


def test_jobs_failure_settles_the_partial_spend(
    service: ServiceEnv, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHGEN_FAKE_FAIL_AT_STEP", "3")
    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    service.drain()
    status = job_status(service, job_id)
    assert status["state"] == "failed" and status["error"] == "fake failure at step 3"
    assert status["stage"] == "train"
    assert status["epsilon_spent"] == pytest.approx(2.0 * 0.97 * 3 / 10)
    ledger = ledger_of(service, source_id)
    assert (
        ledger["epsilon_spent"] == pytest.approx(2.0 * 0.97 * 3 / 10)
        and ledger["epsilon_reserved"] == 0.0
    )
    r = service.client.post(f"/v1/jobs/{job_id}/retry", headers=service.headers("steward"))
    assert r.status_code == 409 and "new job" in r.json()["detail"]


def test_jobs_retry_after_training_never_trains_or_charges_again(
    service: ServiceEnv, source_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SYNTHGEN_FAKE_FAIL_VALIDATE", str(tmp_path / "failed-once"))
    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    service.drain()
    status = job_status(service, job_id)
    assert status["state"] == "failed" and status["stage"] == "validate"
    spent_before = ledger_of(service, source_id)["epsilon_spent"]
    r = service.client.post(f"/v1/jobs/{job_id}/retry", headers=service.headers("steward"))
    assert r.status_code == 202 and r.json()["state"] == "queued"
    service.drain()
    status = job_status(service, job_id)
    assert status["state"] == "succeeded" and status["release_id"]
    assert len(attempts_log(service, job_id)) == 1  # trained once
    ledger = ledger_of(service, source_id)
    assert ledger["epsilon_spent"] == spent_before and len(ledger["entries"]) == 1  # type: ignore[arg-type]


@pytest.mark.slow
def test_jobs_worker_shutdown_hands_the_job_back_and_it_resumes(
    service: ServiceEnv, source_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHGEN_FAKE_STEPS", "60")
    monkeypatch.setenv("SYNTHGEN_FAKE_STEP_SECONDS", "0.02")
    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    worker = run_in_background(service)
    wait_for(lambda: (job_status(service, job_id)["progress"] or 0) > 20)  # type: ignore[operator]
    service.worker.ctx.shutdown.set()
    worker.join(30)
    status = job_status(service, job_id)
    assert status["state"] == "queued" and status["attempts"] == 0
    service.worker.ctx.shutdown.clear()
    service.drain()
    status = job_status(service, job_id)
    assert status["state"] == "succeeded"
    log = attempts_log(service, job_id)
    assert [a["resume"] for a in log] == [False, True] and int(log[1]["start"]) > 0  # type: ignore[call-overload]
    ledger = ledger_of(service, source_id)
    assert len(ledger["entries"]) == 1 and ledger["epsilon_spent"] == pytest.approx(2.0 * 0.97)  # type: ignore[arg-type]


def test_jobs_a_worker_that_lost_its_lease_cannot_write(
    service: ServiceEnv, source_id: str
) -> None:
    job_id = service.request_job(source_id).json()["id"]
    db = service.db
    first = leases.claim(db, job_id, worker_id="a", lease_seconds=60)
    assert first is not None and leases.claim(db, job_id, worker_id="b", lease_seconds=60) is None
    with db.transaction(write=True) as session:  # worker "a" goes silent: its lease runs out
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    second = leases.claim(db, job_id, worker_id="b", lease_seconds=60)
    assert second is not None and second.attempt == 2
    with pytest.raises(LeaseLost):
        leases.update_job(db, first, progress=50.0)
    assert not leases.renew(db, first, lease_seconds=60)
    leases.update_job(db, second, progress=10.0)


def test_jobs_a_job_lost_too_often_fails(service: ServiceEnv, source_id: str) -> None:
    job_id = service.request_job(source_id, epsilon=1.0).json()["id"]
    with service.db.transaction(write=True) as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(attempts=service.settings.max_attempts)
        )
    held = leases.claim(service.db, job_id, worker_id="w", lease_seconds=60)
    assert held is not None
    JobRun(service.worker.ctx, held).run()
    status = job_status(service, job_id)
    assert status["state"] == "failed" and "lost" in str(status["error"])
    assert ledger_of(service, source_id)["epsilon_reserved"] == 0.0


def test_jobs_default_delta_is_chosen_by_the_trainer_and_reserved_as_a_bound(
    service: ServiceEnv, source_id: str
) -> None:
    """No delta given: the spec carries none (the trainer picks it from the DP record count,
    never the exact N), the ledger reserves min(1e-5, 1/(5 N)) and settles at what the
    certificate says."""
    from pipelines.sources import default_job_delta_reservation
    from pipelines.store.models import Source

    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    with service.db.transaction() as session:
        job = session.get(Job, job_id)
        source = session.get(Source, source_id)
        assert job is not None and source is not None
        assert job.spec["training"]["delta"] is None
        assert job.delta_reserved == pytest.approx(default_job_delta_reservation(source.n_records))
    service.drain()
    entry = ledger_of(service, source_id)["entries"][0]  # type: ignore[index]
    assert entry["state"] == "settled" and entry["delta_spent"] == pytest.approx(1e-6)


def test_a_patient_level_source_reserves_a_delta_that_bounds_a_patient_count(
    service: ServiceEnv,
) -> None:
    """A schema with ``role: entity`` makes the job patient level, whose default delta comes
    from a count of patients: the reservation for the rows' count (min(1e-5, 1/(5 N)),
    here 6.7e-6) could be less than it spends; the ledger reserves 1e-5, which bounds the
    trainer's choice however few the patients."""
    from pipelines.jobs import PATIENT_DELTA_RESERVATION
    from pipelines.sources import default_job_delta_reservation

    rows = 30_000
    table = cohort_csv(rows).decode().splitlines()
    with_patient = ["patient," + table[0]] + [f"p{i % 900}," + line for i, line in enumerate(table[1:])]
    schema = COHORT_SCHEMA.replace(b"columns:\n", b"columns:\n  - {name: patient, role: entity}\n")
    source = service.ready_source(
        ("\n".join(with_patient) + "\n").encode(), schema, epsilon_budget=10.0, delta_budget=3e-5
    )
    record_level = service.ready_source(cohort_csv(rows), COHORT_SCHEMA, epsilon_budget=10.0,
                                        delta_budget=3e-5, name="rows")
    jobs = [service.request_job(s, epsilon=1.0).json()["id"] for s in (source, record_level)]
    with service.db.transaction() as session:
        patient_job, record_job = (session.get(Job, j) for j in jobs)
        assert patient_job is not None and record_job is not None
        assert patient_job.spec["training"]["delta"] is None
        assert patient_job.delta_reserved == PATIENT_DELTA_RESERVATION
        assert record_job.delta_reserved == pytest.approx(default_job_delta_reservation(rows))
        assert record_job.delta_reserved < PATIENT_DELTA_RESERVATION  # the test can tell them apart


def test_default_job_delta_reservation_bounds_the_trainers_choice() -> None:
    from pipelines.sources import default_job_delta_reservation
    from synthgen.privacy.record_count import DP_ESTIMATE, RecordCount

    for n in (60, 300, 5_000, 40_000, 1_000_000):
        reserved = default_job_delta_reservation(n)
        assert reserved < 1 / n
        # the trainer's choice stays within it whenever the DP upper bound is at least N / 2
        low = RecordCount(value=max(1, n // 2), source=DP_ESTIMATE)
        assert low.default_delta() <= reserved + 1e-18
