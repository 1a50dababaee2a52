"""The privacy-budget ledger: reservation, settlement, and the cap under concurrency."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from pipelines import auth, ledger
from pipelines.store.models import LedgerEntry, Source
from synthgen.errors import PrivacyBudgetExceeded
from tests.support.live import LiveServer
from tests.support.service import COHORT_SCHEMA, ServiceEnv

REQUESTS = 50
EPSILON = 0.7
BUDGET = 10.0


@pytest.mark.slow
def test_ledger_50_concurrent_requests_never_exceed_the_cap(
    service: ServiceEnv, cohort: bytes
) -> None:
    source_id = service.ready_source(
        cohort, COHORT_SCHEMA, epsilon_budget=BUDGET, delta_budget=1e-3
    )
    headers = service.headers("steward")
    barrier = threading.Barrier(REQUESTS)

    def request(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            barrier.wait()
            return client.post(
                "/v1/jobs", json={"source_id": source_id, "epsilon": EPSILON, "rows": 10, "seed": 1}
            )

    with LiveServer(service.app) as server, ThreadPoolExecutor(REQUESTS) as pool:
        responses = list(pool.map(request, range(REQUESTS)))

    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {202, 409}, [r.text for r in responses if r.status_code not in (202, 409)]
    accepted = codes.count(202)
    assert accepted == math.floor(BUDGET / EPSILON + 1e-9)  # 14: every request that fits got in
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"] == "PrivacyBudgetExceeded"
            assert "budget" in r.json()["detail"]
    body = service.client.get(f"/v1/sources/{source_id}/ledger", headers=headers).json()
    assert body["epsilon_reserved"] == pytest.approx(accepted * EPSILON)
    assert body["epsilon_reserved"] + body["epsilon_spent"] <= BUDGET
    assert len(body["entries"]) == accepted
    jobs = service.client.get(
        f"/v1/jobs?source_id={source_id}&kind=synthesize&limit=500", headers=headers
    ).json()
    assert len(jobs) == accepted  # a refused request leaves no job behind


def test_ledger_refuses_a_single_job_over_the_cap(service: ServiceEnv, cohort: bytes) -> None:
    source_id = service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=2.0)
    r = service.request_job(source_id, epsilon=2.5)
    assert r.status_code == 409 and "exceeds what is left" in r.json()["detail"]
    assert service.request_job(source_id, epsilon=2.0).status_code == 202
    assert service.request_job(source_id, epsilon=0.01).status_code == 409


@pytest.mark.slow
def test_ledger_settles_at_the_actual_spend_and_frees_the_rest(
    service: ServiceEnv, cohort: bytes
) -> None:
    source_id = service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=2.0)
    assert service.request_job(source_id, epsilon=2.0).status_code == 202
    assert service.request_job(source_id, epsilon=0.05).status_code == 409
    service.drain()  # the job spends 0.97 * 2.0 and its entry is settled at that
    assert service.request_job(source_id, epsilon=0.05).status_code == 202
    assert service.request_job(source_id, epsilon=0.02).status_code == 409


def test_ledger_settle_is_idempotent(service: ServiceEnv, cohort: bytes) -> None:
    source_id = service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=5.0)
    job_id = service.request_job(source_id, epsilon=1.0).json()["id"]
    who = auth.operator("tests")
    with service.db.transaction() as session:
        assert ledger.settle(
            session, job_id=job_id, epsilon_spent=0.4, delta_spent=1e-6, note="first", actor=who
        )
        assert not ledger.settle(
            session, job_id=job_id, epsilon_spent=0.9, delta_spent=1e-6, note="again", actor=who
        )
    with service.db.session() as session:
        entry = session.scalar(select(LedgerEntry).where(LedgerEntry.job_id == job_id))
        assert entry is not None and entry.epsilon_spent == 0.4 and entry.note == "first"


def test_ledger_reserve_needs_a_write_session_on_sqlite(
    sqlite_service: ServiceEnv, cohort: bytes
) -> None:
    source_id = sqlite_service.ready_source(cohort, COHORT_SCHEMA)
    with sqlite_service.db.session() as session, pytest.raises(RuntimeError, match="write session"):
        ledger.lock_source(session, source_id)


def test_ledger_sums_many_small_reservations_exactly(
    sqlite_service: ServiceEnv, cohort: bytes
) -> None:
    source_id = sqlite_service.ready_source(
        cohort, COHORT_SCHEMA, epsilon_budget=1.0, delta_budget=1e-3
    )
    for _ in range(10):  # 10 x 0.1 = 1.0 in exact arithmetic, 0.9999999999999999 in floats
        assert sqlite_service.request_job(source_id, epsilon=0.1).status_code == 202
    assert sqlite_service.request_job(source_id, epsilon=0.1).status_code == 409
    with sqlite_service.db.transaction(write=True) as session:
        source = ledger.lock_source(session, source_id)
        with pytest.raises(PrivacyBudgetExceeded):
            ledger.reserve(session, source=source, job_id="x" * 32, epsilon=1e-6, delta=1e-9)
        count = session.scalar(select(func.count()).select_from(LedgerEntry))
        assert count == 10
        assert session.get(Source, source_id) is not None
