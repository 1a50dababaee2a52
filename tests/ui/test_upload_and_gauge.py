"""The upload form's schema file and delta cap, and the live budget gauge's JSON status."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient

from tests.support.service import COHORT_SCHEMA, ServiceEnv
from tests.ui.conftest import page_token, signed_in


def _upload(
    client: TestClient, table: bytes, *, schema: bytes | None = None, **fields: str
) -> object:
    token = page_token(client, "/ui/sources")
    files = {"file": ("cohort.csv", io.BytesIO(table), "text/csv")}
    # a browser sends the schema part empty when no file was chosen
    files["schema"] = (
        ("schema.yaml", io.BytesIO(schema), "application/yaml")
        if schema is not None
        else ("", io.BytesIO(b""), "application/octet-stream")
    )
    data = {"name": "cohort", "target": "outcome", "epsilon_budget": "10", "csrf_token": token}
    return client.post("/ui/sources", data={**data, **fields}, files=files, follow_redirects=False)


def test_upload_form_with_schema_and_delta_skips_review(service: ServiceEnv, cohort: bytes) -> None:
    steward = signed_in(service, "steward")
    form = steward.get("/ui/sources").text
    assert 'id="schema" name="schema" type="file"' in form and 'id="delta_budget"' in form
    response = _upload(steward, cohort, schema=COHORT_SCHEMA, delta_budget="0.001")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/ui/sources/") and not location.endswith("/schema")
    source_id = location.rsplit("/", 1)[1]
    source = service.client.get(
        f"/v1/sources/{source_id}", headers=service.headers("steward")
    ).json()
    assert source["schema_sha256"]
    ledger = service.client.get(
        f"/v1/sources/{source_id}/ledger", headers=service.headers("steward")
    ).json()
    assert ledger["delta_budget"] == 0.001
    page = steward.get(location).text
    assert "0 of 0.001" in page  # the delta cap as set


def test_upload_form_without_schema_goes_to_review(
    sqlite_service: ServiceEnv, cohort: bytes
) -> None:
    steward = signed_in(sqlite_service, "steward")
    response = _upload(steward, cohort, delta_budget="")
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith("/schema")


def test_upload_form_refuses_bad_schema_and_delta(
    sqlite_service: ServiceEnv, cohort: bytes
) -> None:
    env = sqlite_service
    steward = signed_in(env, "steward")
    broken = _upload(steward, cohort, schema=b"columns: [unclosed")
    assert broken.status_code == 422 and "schema" in broken.text.lower()
    mismatch = COHORT_SCHEMA.replace(b"max: 90", b"max: 30")
    refused = _upload(steward, cohort, schema=mismatch)
    assert refused.status_code == 422 and "age" in refused.text
    assert _upload(steward, cohort, delta_budget="1.5").status_code == 422
    # a delta at or above 1/N is refused too (60 records)
    assert _upload(steward, cohort, schema=COHORT_SCHEMA, delta_budget="0.5").status_code == 422
    sources = env.client.get("/v1/sources", headers=env.headers("steward")).json()
    assert sources == []  # nothing kept


def test_budget_status_follows_jobs(service: ServiceEnv, cohort: bytes) -> None:
    env = service
    source_id = env.ready_source(cohort, COHORT_SCHEMA)
    steward = signed_in(env, "steward")
    page = steward.get(f"/ui/sources/{source_id}").text
    assert 'data-status-url="/ui/sources/' in page and 'data-open="no"' in page
    before = steward.get(f"/ui/sources/{source_id}/budget")
    assert before.status_code == 200 and before.headers["content-type"] == "application/json"
    assert before.json()["open_jobs"] == 0 and before.json()["left"] == 100.0

    assert env.request_job(source_id, epsilon=4.0).status_code == 202
    running = steward.get(f"/ui/sources/{source_id}/budget").json()
    assert running["open_jobs"] == 1
    assert running["reserved"] == 40.0 and running["left"] == 60.0
    assert running["text"] == {
        "spent": "0",
        "reserved": "4",
        "left": "6",
        "cap": "10",
        "delta": running["text"]["delta"],
    }
    assert 'data-open="yes"' in steward.get(f"/ui/sources/{source_id}").text

    env.drain()
    settled = steward.get(f"/ui/sources/{source_id}/budget").json()
    assert settled["open_jobs"] == 0 and settled["reserved"] == 0.0
    assert 0 < settled["spent"] <= 40.0
    assert abs(settled["spent"] + settled["left"] - 100.0) < 1e-9
    ledger = env.client.get(
        f"/v1/sources/{source_id}/ledger", headers=env.headers("steward")
    ).json()
    assert settled["epsilon_spent"] == ledger["epsilon_spent"]


def test_budget_status_roles(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    env = sqlite_service
    source_id = env.ready_source(cohort, COHORT_SCHEMA)
    path = f"/ui/sources/{source_id}/budget"
    assert signed_in(env, "auditor").get(path).status_code == 200
    assert signed_in(env, "steward", "other").get(path).status_code == 404
    assert signed_in(env, "ml_engineer").get(path).status_code == 403
    assert signed_in(env, "admin").get(path).status_code == 403
    anonymous = TestClient(env.app, base_url="https://testserver")
    response = anonymous.get(path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"
    # polls are not audited as reads; the page's view is
    events = env.client.get(
        "/v1/audit", params={"action": "ledger.read"}, headers=env.headers("auditor")
    ).json()
    assert events == []
