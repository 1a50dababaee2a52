"""The service's stores are private on disk (issue 19, finding 9): under a permissive umask,
the SQLite store is 0600 and the private area, models and releases (pending ones included)
are 0700 with 0600 files, so no other local user reads any of them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.service import COHORT_SCHEMA, ServiceEnv


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_store_models_and_releases_are_not_readable_by_other_users(
        umask022: None, sqlite_service: ServiceEnv, cohort: bytes) -> None:
    service = sqlite_service
    job = service.released(cohort, COHORT_SCHEMA, approve=False)  # a pending release
    assert job["release_id"]
    settings = service.settings
    data = settings.data_dir
    assert _mode(data / "synthgen.db") == 0o600
    for root in (settings.private_dir, settings.models_dir, settings.release_dir):
        assert _mode(root) == 0o700, root
    released = [p for p in settings.release_dir.rglob("*") if p.is_file()]
    assert released and any((settings.models_dir / job["id"]).iterdir())
    assert any(p.is_file() for p in (settings.private_dir / "runs" / job["id"]).rglob("*"))
    open_to_others = {str(p.relative_to(data)): oct(_mode(p)) for p in data.rglob("*")
                      if _mode(p) & 0o077}
    assert not open_to_others


def test_an_existing_store_file_is_narrowed_on_start(tmp_path: Path, umask022: None) -> None:
    from pipelines.store import Database

    path = tmp_path / "synthgen.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    Database(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o600
    fresh = tmp_path / "new" / "synthgen.db"
    Database(f"sqlite:///{fresh}").dispose()
    assert _mode(fresh) == 0o600


def test_a_job_killed_after_a_release_and_before_its_first_checkpoint_fails_and_pays(
        sqlite_service: ServiceEnv, cohort: bytes) -> None:
    """Its next attempt must not start over (fresh noise on the same data, unpaid): the job
    fails and the ledger charges what the spend log and accountant say ran."""
    import json

    from pipelines.store.models import Job

    service = sqlite_service
    source_id = service.ready_source(cohort, COHORT_SCHEMA, epsilon_budget=10.0)
    job_id = service.request_job(source_id, epsilon=2.0).json()["id"]
    # what the first attempt left: training started, the DP statistics released, no checkpoint
    with service.db.transaction() as session:
        session.get(Job, job_id).outputs = {"train": {"started": True}}  # type: ignore[union-attr]
    run_dir = service.settings.private_dir / "runs" / job_id
    run_dir.mkdir(parents=True)
    (run_dir / "spend.jsonl").write_text(json.dumps(
        {"event": "release", "name": "histograms", "noise_multiplier": 5.0, "purpose": "x"}) + "\n")
    (run_dir / "accountant.json").write_text(json.dumps({"fake_epsilon": 0.25}))
    service.drain()
    status = service.client.get(f"/v1/jobs/{job_id}", headers=service.headers("steward")).json()
    assert status["state"] == "failed" and "first checkpoint" in status["error"]
    assert status["epsilon_spent"] == pytest.approx(0.25)
    assert (run_dir / "spend.jsonl").exists()  # not wiped for a fresh start
    ledger = service.client.get(f"/v1/sources/{source_id}/ledger",
                                headers=service.headers("steward")).json()
    assert ledger["epsilon_spent"] == pytest.approx(0.25)
