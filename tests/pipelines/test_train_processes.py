"""A worker trains with the DP-SGD processes it declares (SYNTHGEN_TRAIN_PROCESSES)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.service import (
    COHORT_SCHEMA,
    build_service,
    cohort_csv,
    fresh_database,
    make_settings,
)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_worker_trains_with_its_declared_processes(
    request: pytest.FixtureRequest, tmp_path: Path, processes: int
) -> None:
    data_dir = tmp_path / "data"
    settings = make_settings(
        data_dir, fresh_database("sqlite", request, data_dir), train_processes=processes
    )
    for service in build_service(settings):
        source_id = service.ready_source(cohort_csv(), COHORT_SCHEMA, epsilon_budget=10.0,
                                         delta_budget=1e-3)
        job_id = service.request_job(source_id).json()["id"]
        service.drain()
        path = settings.private_dir / "runs" / job_id / "attempts.jsonl"
        attempts = [json.loads(line) for line in path.read_text().splitlines()]
        assert [a["processes"] for a in attempts] == [processes]
