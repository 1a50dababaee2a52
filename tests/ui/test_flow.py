"""The console's story over HTTP, on SQLite and PostgreSQL: upload, schema review, budget,
request, job, review, approval, download, report, audit; and the JSON routes it uses."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.routes.audit_export import safe_cell
from tests.support.service import COHORT_SCHEMA, ServiceEnv
from tests.ui.conftest import HEART, csrf_token, page_token, signed_in


def _upload(client: TestClient, path: Path, *, target: str = "num", budget: str = "10") -> str:
    token = page_token(client, "/ui/sources")
    with path.open("rb") as fh:
        response = client.post(
            "/ui/sources",
            data={"name": "heart", "target": target, "epsilon_budget": budget, "csrf_token": token},
            files={"file": ("heart.csv", fh, "text/csv")},
            follow_redirects=False,
        )
    assert response.status_code == 303, response.text
    match = re.match(r"/ui/sources/([^/]+)/schema", response.headers["location"])
    assert match
    return match.group(1)


def _schema_form(html: str) -> dict[str, str]:
    """The schema form's values as the browser would post them (selected options,
    checked boxes, inputs), accepting nothing."""
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input id="[^"]*" name="([^"]+)" value="([^"]*)"', html):
        data[name] = value
    for select in re.findall(r'<select id="[^"]*" name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r"<option selected>([^<]+)</option>", select[1])
        data[select[0]] = chosen.group(1) if chosen else ""
    for name in re.findall(r'name="(col-\d+-nullable)"[^>]* checked', html):
        data[name] = "on"
    data["csrf_token"] = csrf_token(html)
    return data


def test_steward_story_over_http(service: ServiceEnv) -> None:
    if not HEART.exists():
        pytest.skip(f"{HEART} is not there")
    steward = signed_in(service, "steward")
    source_id = _upload(steward, HEART)
    page = steward.get(f"/ui/sources/{source_id}/schema")
    assert page.status_code == 200
    assert "from the data" in page.text and "makes it public" in page.text
    form = _schema_form(page.text)
    # values drawn from the data are refused until accepted or edited
    refused = steward.post(f"/ui/sources/{source_id}/schema", data=form)
    assert refused.status_code == 422 and "drawn from the data" in refused.text
    # edit age's bounds to public clinical limits, accept the rest
    form["col-0-min"], form["col-0-max"] = "0", "120"
    form["accept-all"] = "on"
    accepted = steward.post(f"/ui/sources/{source_id}/schema", data=form, follow_redirects=False)
    assert accepted.status_code == 303, accepted.text
    service.drain()
    source_page = steward.get(f"/ui/sources/{source_id}")
    assert 'id="source-state">ready' in source_page.text
    assert "10 left of 10" in source_page.text

    token = page_token(steward, f"/ui/sources/{source_id}")
    assert (
        steward.post(
            f"/ui/sources/{source_id}/budget",
            data={"epsilon_budget": "8", "csrf_token": token},
            follow_redirects=False,
        ).status_code
        == 303
    )
    response = steward.post(
        f"/ui/sources/{source_id}/jobs",
        data={"epsilon": "1", "rows": "40", "seed": "3", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    job_path = response.headers["location"]
    assert "7 left of 8" in steward.get(f"/ui/sources/{source_id}").text
    service.drain()
    status = steward.get(job_path + "/status").json()
    assert status["state"] == "succeeded" and status["release_id"]
    release_id = status["release_id"]

    release = steward.get(f"/ui/releases/{release_id}")
    assert release.status_code == 200 and 'id="report-frame"' in release.text
    report = steward.get(f"/ui/releases/{release_id}/report?format=html")
    assert report.status_code == 200
    assert "frame-ancestors 'self'" in report.headers["content-security-policy"]
    assert report.headers["x-frame-options"] == "SAMEORIGIN"
    decided = steward.post(
        f"/ui/releases/{release_id}/decision",
        data={"decision": "approve", "reason": "report read", "csrf_token": token},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert 'id="release-state">approved' in steward.get(f"/ui/releases/{release_id}").text

    ml = signed_in(service, "ml_engineer")
    listing = ml.get("/ui/releases")
    assert release_id[:8] in listing.text
    page = ml.get(f"/ui/releases/{release_id}")
    assert 'id="cert-unit"' in page.text and "report-frame" not in page.text
    assert source_id not in page.text  # ML engineers never see the source
    data = ml.get(f"/ui/releases/{release_id}/data?format=csv")
    assert data.status_code == 200 and len(list(csv.reader(io.StringIO(data.text)))) == 41
    assert ml.get(f"/ui/releases/{release_id}/report").status_code == 403
    assert ml.get(f"/ui/sources/{source_id}").status_code == 403

    auditor = signed_in(service, "auditor")
    assert auditor.get(f"/ui/releases/{release_id}/report?format=json").status_code == 200
    assert auditor.get(f"/ui/releases/{release_id}/certificate").json()["unit"]
    assert auditor.get(f"/ui/sources/{source_id}").status_code == 200
    log = auditor.get("/ui/audit", params={"action": "schema.accept"})
    assert "schema.accept" in log.text and "steward" in log.text
    exported = auditor.get("/ui/audit/export.csv", params={"source_id": source_id})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    actions = {r["action"] for r in rows}
    assert {
        "source.upload",
        "schema.accept",
        "source.budget",
        "job.create",
        "release.approve",
    } <= actions
    accept = next(r for r in rows if r["action"] == "schema.accept")
    assert "num.categories" in accept["details"] and "age.min" not in accept["details"]


def test_schema_routes_json(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    env = sqlite_service
    source_id = env.ready_source(cohort)
    headers = env.headers("steward")
    draft = env.client.get(f"/v1/sources/{source_id}/schema/draft", headers=headers)
    assert draft.status_code == 200
    body = draft.json()
    assert not body["accepted"]
    age = next(c for c in body["columns"] if c["fields"]["name"] == "age")
    assert {"min", "max"} <= set(age["drawn_from_data"])
    columns = [c["fields"] for c in body["columns"]]
    refused = env.client.put(
        f"/v1/sources/{source_id}/schema", json={"columns": columns}, headers=headers
    )
    assert refused.status_code == 422 and "age.min" in refused.json()["detail"]
    every = [f"{c['fields']['name']}.{f}" for c in body["columns"] for f in c["drawn_from_data"]]
    ok = env.client.put(
        f"/v1/sources/{source_id}/schema",
        json={"columns": columns, "accepted_from_data": every},
        headers=headers,
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["state"] == "validating"
    again = env.client.put(
        f"/v1/sources/{source_id}/schema",
        json={"columns": columns, "accepted_from_data": every},
        headers=headers,
    )
    assert again.status_code == 409
    env.drain()
    assert env.client.get(f"/v1/sources/{source_id}", headers=headers).json()["state"] == "ready"
    for role in ("ml_engineer", "auditor", "admin"):
        assert (
            env.client.put(
                f"/v1/sources/{source_id}/schema",
                json={"columns": columns},
                headers=env.headers(role),
            ).status_code
            == 403
        )


def test_schema_that_data_breaks_refused(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    env = sqlite_service
    source_id = env.ready_source(cohort)
    columns = [
        {"name": "age", "kind": "integer", "min": 30, "max": 40},
        {"name": "sex", "kind": "categorical", "categories": ["F", "M"]},
        {"name": "bmi", "kind": "continuous", "min": 10, "max": 60},
        {"name": "outcome", "kind": "categorical", "role": "label", "categories": ["0", "1"]},
    ]
    body = {"columns": columns, "accepted_from_data": ["sex.categories", "outcome.categories"]}
    response = env.client.put(
        f"/v1/sources/{source_id}/schema", json=body, headers=env.headers("steward")
    )
    assert response.status_code == 422
    assert "age" in response.text and "outside the declared bounds" in response.text


def test_budget_route(service: ServiceEnv, cohort: bytes) -> None:
    env = service
    source_id = env.ready_source(cohort, COHORT_SCHEMA)
    headers = env.headers("steward")
    assert env.request_job(source_id, epsilon=3.0).status_code == 202
    lower = env.client.put(
        f"/v1/sources/{source_id}/budget", json={"epsilon_budget": 2}, headers=headers
    )
    assert lower.status_code == 409
    ok = env.client.put(
        f"/v1/sources/{source_id}/budget", json={"epsilon_budget": 4}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["epsilon_budget"] == 4
    assert env.request_job(source_id, epsilon=1.5).status_code == 409
    other = env.client.put(
        f"/v1/sources/{source_id}/budget",
        json={"epsilon_budget": 50},
        headers=env.headers("steward", "other"),
    )
    assert other.status_code == 404
    assert (
        env.client.put(
            f"/v1/sources/{source_id}/budget",
            json={"epsilon_budget": 50},
            headers=env.headers("auditor"),
        ).status_code
        == 403
    )


def test_audit_csv_export_filters_and_defuses_formulas(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    env.key("steward")
    response = env.client.get("/v1/audit/export.csv", headers=env.headers("auditor"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert {"user.create", "key.create"} <= {r["action"] for r in rows}
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and safe_cell("steward") == "steward"
    only = env.client.get(
        "/v1/audit/export.csv", params={"action": "user.create"}, headers=env.headers("auditor")
    )
    assert {r["action"] for r in csv.DictReader(io.StringIO(only.text))} == {"user.create"}
    future = env.client.get(
        "/v1/audit/export.csv",
        params={"until": "2000-01-01T00:00:00"},
        headers=env.headers("auditor"),
    )
    assert future.text.startswith("id,at,") and list(csv.DictReader(io.StringIO(future.text))) == []
    # a time without a zone is UTC (it used to fail with a 500 on GET /v1/audit)
    listed = env.client.get(
        "/v1/audit", params={"since": "2000-01-01T00:00:00"}, headers=env.headers("auditor")
    )
    assert listed.status_code == 200 and listed.json()
    assert env.client.get("/v1/audit/export.csv", headers=env.headers("steward")).status_code == 403


@pytest.mark.parametrize(
    "columns",
    [
        [{"name": {"nested": 1}}],
        [{"kind": "integer"}],
        [{"name": "age", "kind": "integer", "min": "low"}],
        [{"name": "age", "kind": "nonsense"}],
        [{"name": "age", "kind": "integer", "min": 5, "max": 1}],
    ],
)
def test_hostile_schema_review_answers_422(
    sqlite_service: ServiceEnv, cohort: bytes, columns: list[dict[str, object]]
) -> None:
    env = sqlite_service
    source_id = env.ready_source(cohort)
    response = env.client.put(
        f"/v1/sources/{source_id}/schema",
        json={"columns": columns},
        headers=env.headers("steward"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_cancel_samples_and_time_filter_pages(sqlite_service: ServiceEnv, cohort: bytes) -> None:
    env = sqlite_service
    # a pending release stays out of the ML engineer's pages
    pending = env.released(cohort, COHORT_SCHEMA, approve=False)
    ml = signed_in(env, "ml_engineer")
    assert pending["release_id"][:8] not in ml.get("/ui/releases").text
    assert ml.get(f"/ui/releases/{pending['release_id']}").status_code == 404

    # cancel from the job page: a queued job is cancelled at once and spends nothing
    steward = signed_in(env, "steward")
    source_id = pending["source_id"]
    token = page_token(steward, f"/ui/sources/{source_id}")
    created = steward.post(
        f"/ui/sources/{source_id}/jobs",
        data={"epsilon": "1", "class_counts": "0=10, 1=10", "csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job_path = created.headers["location"]
    assert 'id="cancel-form"' in steward.get(job_path).text
    cancelled = steward.post(job_path + "/cancel", data={"csrf_token": token})
    assert (
        cancelled.status_code == 200
        and 'id="job-state" aria-live="polite">cancelled' in cancelled.text
    )
    bad = steward.post(
        f"/ui/sources/{source_id}/jobs",
        data={"epsilon": "1", "class_counts": "0:10", "csrf_token": token},
    )
    assert bad.status_code == 422 and "LABEL=COUNT" in bad.text
    over = steward.post(
        f"/ui/sources/{source_id}/jobs", data={"epsilon": "50", "rows": "10", "csrf_token": token}
    )
    assert over.status_code == 409 and "left" in over.text

    # more samples from an approved release
    approved = env.released(cohort, COHORT_SCHEMA)
    token = page_token(ml, f"/ui/releases/{approved['release_id']}")
    sampled = ml.post(
        f"/ui/releases/{approved['release_id']}/samples",
        data={"rows": "25", "seed": "4", "csrf_token": token},
        follow_redirects=False,
    )
    assert sampled.status_code == 303, sampled.text
    env.drain()
    status = ml.get(sampled.headers["location"] + "/status").json()
    assert status["state"] == "succeeded"
    job_page = ml.get(sampled.headers["location"]).text
    assert source_id not in job_page and approved["source_id"] not in job_page

    # the audit log's time range
    auditor = signed_in(env, "auditor")
    everything = auditor.get("/ui/audit", params={"since": "2000-01-01T00:00", "until": ""})
    assert everything.status_code == 200 and "release.sample" in everything.text
    nothing = auditor.get("/ui/audit", params={"until": "2000-01-01T00:00"})
    assert "No events match" in nothing.text
    assert auditor.get("/ui/audit", params={"since": "yesterday"}).status_code == 422
