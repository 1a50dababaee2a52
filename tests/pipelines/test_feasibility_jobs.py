"""The feasibility estimate in the service: 422 at request time from a declared record
count; otherwise the worker's training run fails the job after its DP count, and the ledger
is charged for that count alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.service import (
    COHORT_SCHEMA,
    ServiceEnv,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)
from tests.tabular.test_feasibility import exact_dp_count

DECLARED = COHORT_SCHEMA.replace(b"draft: false\n", b"draft: false\npublic_record_count: 200\n")


@pytest.mark.slow
def test_an_infeasible_request_gets_422_with_the_reasons(sqlite_service: ServiceEnv) -> None:
    source_id = sqlite_service.ready_source(cohort_csv(200), DECLARED, epsilon_budget=10.0)
    r = sqlite_service.request_job(source_id, epsilon=0.2)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "the feasibility estimate says infeasible" in detail
    assert "would help: epsilon >= " in detail and "accept_infeasible" in detail
    ledger = sqlite_service.client.get(
        f"/v1/sources/{source_id}/ledger", headers=sqlite_service.headers("steward")
    ).json()
    assert ledger["epsilon_reserved"] == 0.0 and ledger["entries"] == []
    accepted = sqlite_service.request_job(source_id, epsilon=0.2, accept_infeasible=True)
    assert accepted.status_code == 202, accepted.text
    # a feasible budget passes without it
    assert sqlite_service.request_job(source_id, epsilon=9.0).status_code == 202


@pytest.mark.slow
def test_the_worker_fails_an_infeasible_job_after_its_dp_count(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact_dp_count(monkeypatch)
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir,
        fresh_database("sqlite", request, data_dir),
        library="pipelines.library:SynthgenLibrary",
        train_max_steps=3,
    )
    for service in build_service(settings):
        source_id = service.ready_source(cohort_csv(), COHORT_SCHEMA, epsilon_budget=10.0)
        job = service.request_job(source_id, epsilon=0.02)
        assert job.status_code == 202, job.text  # N is not declared: the worker checks
        service.drain()
        headers = service.headers("steward")
        status = service.client.get(f"/v1/jobs/{job.json()['id']}", headers=headers).json()
        assert status["state"] == "failed", status
        assert "the feasibility estimate says infeasible" in status["error"]
        assert "the DP record count is noise" in status["error"]
        ledger = service.client.get(f"/v1/sources/{source_id}/ledger", headers=headers).json()
        spent = ledger["epsilon_spent"]
        # the record count only: its share of epsilon (measured alone, at the run's delta;
        # 0.2 at a small epsilon, synthgen.privacy.record_count)
        assert 0 < spent <= 0.02 * 0.2 * 1.5 and ledger["epsilon_reserved"] == 0.0
        assert ledger["entries"][0]["state"] == "settled"
