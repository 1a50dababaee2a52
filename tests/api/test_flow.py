"""The whole path through the API with the in-process worker, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from tests.support.service import COHORT_SCHEMA, ServiceEnv, build_service


@pytest.mark.slow
def test_flow_upload_synthesize_approve_download(service: ServiceEnv, cohort: bytes) -> None:
    steward, ml, auditor = (
        service.headers("steward"),
        service.headers("ml_engineer"),
        service.headers("auditor"),
    )
    up = service.upload(table=cohort, schema=COHORT_SCHEMA)
    assert up.status_code == 201, up.text
    source_id = up.json()["id"]
    assert up.json()["state"] == "validating" and up.json()["check_job_id"]
    assert service.drain() == 1
    source = service.client.get(f"/v1/sources/{source_id}", headers=steward).json()
    assert source["state"] == "ready" and source["n_records"] == 60
    assert source["columns"] == ["age", "sex", "bmi", "outcome"]

    job = service.request_job(source_id, epsilon=3.0, rows=40)
    assert job.status_code == 202, job.text
    assert job.json()["state"] == "queued"
    job_id = job.json()["id"]
    ledger = service.client.get(f"/v1/sources/{source_id}/ledger", headers=steward).json()
    assert ledger["epsilon_reserved"] == 3.0 and ledger["epsilon_spent"] == 0.0
    assert ledger["entries"][0]["state"] == "reserved"

    assert service.drain() == 1
    status = service.client.get(f"/v1/jobs/{job_id}", headers=steward).json()
    assert status["state"] == "succeeded", status
    assert status["progress"] == 100.0 and status["stage"] == "report"
    assert status["epsilon_spent"] == pytest.approx(3.0 * 0.97)
    release_id = status["release_id"]
    ledger = service.client.get(f"/v1/sources/{source_id}/ledger", headers=steward).json()
    assert ledger["epsilon_reserved"] == 0.0
    assert ledger["epsilon_spent"] == pytest.approx(3.0 * 0.97)
    assert ledger["epsilon_remaining"] == pytest.approx(10 - 3.0 * 0.97)

    # the steward reads the report, then approves; ML engineers see nothing before that
    assert service.client.get(f"/v1/releases/{release_id}", headers=ml).status_code == 404
    assert service.client.get("/v1/releases", headers=ml).json() == []
    report = service.client.get(f"/v1/releases/{release_id}/report", headers=steward)
    assert report.status_code == 200 and "text/html" in report.headers["content-type"]
    approved = service.client.post(
        f"/v1/releases/{release_id}/approve", json={"reason": "report reviewed"}, headers=steward
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved" and approved.json()["decided_by"]

    listed = service.client.get("/v1/releases", headers=ml).json()
    assert [r["id"] for r in listed] == [release_id]
    assert listed[0]["verdict"] is None and listed[0]["source_id"] is None  # nothing from real data
    csv = service.client.get(f"/v1/releases/{release_id}/data", headers=ml)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(pd.read_csv(io.BytesIO(csv.content))) == 40
    parquet = service.client.get(f"/v1/releases/{release_id}/data?format=parquet", headers=ml)
    assert parquet.status_code == 200
    assert len(pd.read_parquet(io.BytesIO(parquet.content))) == 40
    cert = service.client.get(f"/v1/releases/{release_id}/certificate", headers=ml).json()
    assert cert["private"] is True and cert["epsilon"] == pytest.approx(3.0 * 0.97)
    assert service.client.get(f"/v1/releases/{release_id}/report", headers=ml).status_code == 403

    for fmt, kind in (
        ("html", "text/html"),
        ("json", "application/json"),
        ("pdf", "application/pdf"),
    ):
        r = service.client.get(f"/v1/releases/{release_id}/report?format={fmt}", headers=auditor)
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)

    # more rows from the approved model: no budget, a new approved release, same certificate
    more = service.client.post(
        f"/v1/releases/{release_id}/samples",
        json={"rows": 25, "seed": 3, "class_counts": {"0": 10, "1": 15}},
        headers=ml,
    )
    assert more.status_code == 202, more.text
    assert service.drain() == 1
    candidates = service.client.post(
        f"/v1/releases/{release_id}/samples", json={"rows": 5, "candidates": 2}, headers=ml
    )
    assert candidates.status_code == 422 and "image models only" in candidates.text
    guided = service.client.post(
        f"/v1/releases/{release_id}/samples", json={"rows": 5, "critic_guidance": 1}, headers=ml
    )
    assert guided.status_code == 422 and "critic_guidance applies" in guided.text
    more_job = service.client.get(f"/v1/jobs/{more.json()['id']}", headers=ml).json()
    assert more_job["state"] == "succeeded", more_job
    child = service.client.get(f"/v1/releases/{more_job['release_id']}", headers=ml).json()
    assert (
        child["state"] == "approved"
        and child["parent_id"] == release_id
        and child["n_records"] == 25
    )
    assert service.client.get(f"/v1/releases/{child['id']}/certificate", headers=ml).json() == cert
    data = pd.read_csv(
        io.BytesIO(service.client.get(f"/v1/releases/{child['id']}/data", headers=ml).content)
    )
    assert data["outcome"].value_counts().to_dict() == {1: 15, 0: 10}
    after = service.client.get(f"/v1/sources/{source_id}/ledger", headers=steward).json()
    assert after["epsilon_spent"] == ledger["epsilon_spent"] and len(after["entries"]) == 1

    actions = [
        e["action"] for e in service.client.get("/v1/audit?limit=100", headers=auditor).json()
    ]
    for action in (
        "source.upload",
        "job.create",
        "release.approve",
        "release.download",
        "report.read",
        "release.sample",
    ):
        assert action in actions


@pytest.mark.slow
def test_flow_restarted_api_reads_status_back_from_the_store(
    service: ServiceEnv, cohort: bytes
) -> None:
    source_id = service.ready_source(cohort, COHORT_SCHEMA)
    job_id = service.request_job(source_id).json()["id"]
    headers = service.headers("steward")
    # a second API process on the same store and data directory (the first one is "restarted")
    for other in build_service(service.settings):
        assert other.client.get(f"/v1/jobs/{job_id}", headers=headers).json()["state"] == "queued"
        service.drain()
        body = other.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        assert body["state"] == "succeeded" and body["release_id"]
