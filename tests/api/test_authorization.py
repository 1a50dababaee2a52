"""Authorization matrix: every endpoint x every role, the negative cases included.

Roles: the steward who owns the source (``owner``), another steward (``other``), an ML
engineer, an auditor, an admin, and no key at all. Existence is private where it should
be: another steward's source, an ML engineer's view of an unapproved release or of
someone else's job answer 404, not 403.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from pipelines.store import Database, upgrade_head
from tests.support.service import (
    COHORT_SCHEMA,
    ServiceEnv,
    cohort_csv,
    fresh_database,
    make_settings,
)

ROLES = ("owner", "other", "ml", "auditor", "admin", "anonymous")
ROLE_OF = {
    "owner": "steward",
    "other": "steward",
    "ml": "ml_engineer",
    "auditor": "auditor",
    "admin": "admin",
}


@dataclass
class World:
    env: ServiceEnv
    ids: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        return self.env.headers(ROLE_OF[who], who)

    def fresh_queued_job(self) -> str:
        r = self.env.request_job(self.ids["S"], epsilon=0.1, owner="owner")
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def fresh_pending_release(self) -> str:
        job_id = self.fresh_queued_job()
        self.env.drain()
        job = self.env.client.get(f"/v1/jobs/{job_id}", headers=self.headers("owner")).json()
        return str(job["release_id"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("authz") / "data"
    if request.param == "sqlite":
        data_dir.mkdir(parents=True)
        db = Database(f"sqlite:///{data_dir / 'synthgen.db'}")
        upgrade_head(db)
        db.dispose()
        url = f"sqlite:///{data_dir / 'synthgen.db'}"
    else:
        url = fresh_database("postgresql", request, data_dir)
    settings = make_settings(data_dir, url)
    app = create_app(settings)
    with TestClient(app) as client:
        env = ServiceEnv(settings=settings, app=app, client=client)
        for who, role in ROLE_OF.items():
            env.key(role, who)
        source = env.ready_source(
            cohort_csv(), COHORT_SCHEMA, owner="owner", epsilon_budget=1000, delta_budget=1e-3
        )
        ids = {"S": source}
        w = World(env, ids)
        ids["RP"] = w.fresh_pending_release()
        ids["J"] = env.client.get(f"/v1/releases/{ids['RP']}", headers=w.headers("owner")).json()[
            "job_id"
        ]
        ids["RA"] = w.fresh_pending_release()
        assert (
            env.client.post(
                f"/v1/releases/{ids['RA']}/approve", headers=w.headers("owner")
            ).status_code
            == 200
        )
        ids["Q"] = w.fresh_queued_job()
        yield w
    shutil.rmtree(data_dir, ignore_errors=True)


def upload_body() -> dict[str, Any]:
    return {
        "files": {"file": ("t.csv", io.BytesIO(cohort_csv(20)), "text/csv")},
        "data": {"name": "t", "target": "outcome", "epsilon_budget": "1"},
    }


JOB = {"json": {"source_id": "{S}", "epsilon": 0.1, "rows": 5, "seed": 0}}
SAMPLES = {"json": {"rows": 5, "seed": 1}}
USER = {"json": {"name": "newuser", "role": "auditor"}}
ROLE = {"json": {"role": "auditor"}}

# (name, method, path, request body, {role: status}, placeholder made fresh for 2xx answers)
CASES: list[tuple[str, str, str, Any, dict[str, int], str | None]] = [
    (
        "list sources",
        "GET",
        "/v1/sources",
        None,
        dict(owner=200, other=200, ml=403, auditor=200, admin=403),
        None,
    ),
    (
        "upload source",
        "POST",
        "/v1/sources",
        "upload",
        dict(owner=201, other=201, ml=403, auditor=403, admin=403),
        None,
    ),
    (
        "get source",
        "GET",
        "/v1/sources/{S}",
        None,
        dict(owner=200, other=404, ml=403, auditor=200, admin=403),
        None,
    ),
    (
        "ledger",
        "GET",
        "/v1/sources/{S}/ledger",
        None,
        dict(owner=200, other=404, ml=403, auditor=200, admin=403),
        None,
    ),
    (
        "create job",
        "POST",
        "/v1/jobs",
        JOB,
        dict(owner=202, other=404, ml=403, auditor=403, admin=403),
        None,
    ),
    (
        "list jobs",
        "GET",
        "/v1/jobs",
        None,
        dict(owner=200, other=200, ml=200, auditor=200, admin=200),
        None,
    ),
    (
        "get job",
        "GET",
        "/v1/jobs/{J}",
        None,
        dict(owner=200, other=404, ml=404, auditor=200, admin=200),
        None,
    ),
    (
        "cancel job",
        "POST",
        "/v1/jobs/{Q}/cancel",
        None,
        dict(owner=202, other=404, ml=404, auditor=403, admin=202),
        "Q",
    ),
    (
        "retry job",
        "POST",
        "/v1/jobs/{J}/retry",
        None,
        dict(owner=409, other=404, ml=403, auditor=403, admin=409),
        None,
    ),
    (
        "list releases",
        "GET",
        "/v1/releases",
        None,
        dict(owner=200, other=200, ml=200, auditor=200, admin=403),
        None,
    ),
    (
        "get pending release",
        "GET",
        "/v1/releases/{RP}",
        None,
        dict(owner=200, other=404, ml=404, auditor=200, admin=403),
        None,
    ),
    (
        "get approved release",
        "GET",
        "/v1/releases/{RA}",
        None,
        dict(owner=200, other=404, ml=200, auditor=200, admin=403),
        None,
    ),
    (
        "approve",
        "POST",
        "/v1/releases/{RP}/approve",
        None,
        dict(owner=200, other=404, ml=403, auditor=403, admin=403),
        "RP",
    ),
    (
        "reject",
        "POST",
        "/v1/releases/{RP}/reject",
        None,
        dict(owner=200, other=404, ml=403, auditor=403, admin=403),
        "RP",
    ),
    (
        "approve twice",
        "POST",
        "/v1/releases/{RA}/approve",
        None,
        dict(owner=409, other=404, ml=403, auditor=403, admin=403),
        None,
    ),
    (
        "pending data",
        "GET",
        "/v1/releases/{RP}/data",
        None,
        dict(owner=200, other=404, ml=404, auditor=200, admin=403),
        None,
    ),
    (
        "approved data",
        "GET",
        "/v1/releases/{RA}/data?format=parquet",
        None,
        dict(owner=200, other=404, ml=200, auditor=200, admin=403),
        None,
    ),
    (
        "pending certificate",
        "GET",
        "/v1/releases/{RP}/certificate",
        None,
        dict(owner=200, other=404, ml=404, auditor=200, admin=403),
        None,
    ),
    (
        "approved certificate",
        "GET",
        "/v1/releases/{RA}/certificate",
        None,
        dict(owner=200, other=404, ml=200, auditor=200, admin=403),
        None,
    ),
    (
        "pending report",
        "GET",
        "/v1/releases/{RP}/report",
        None,
        dict(owner=200, other=404, ml=403, auditor=200, admin=403),
        None,
    ),
    (
        "approved report",
        "GET",
        "/v1/releases/{RA}/report?format=pdf",
        None,
        dict(owner=200, other=404, ml=403, auditor=200, admin=403),
        None,
    ),
    (
        "samples of approved",
        "POST",
        "/v1/releases/{RA}/samples",
        SAMPLES,
        dict(owner=403, other=403, ml=202, auditor=403, admin=403),
        None,
    ),
    (
        "samples of pending",
        "POST",
        "/v1/releases/{RP}/samples",
        SAMPLES,
        dict(owner=403, other=403, ml=404, auditor=403, admin=403),
        None,
    ),
    (
        "audit log",
        "GET",
        "/v1/audit",
        None,
        dict(owner=403, other=403, ml=403, auditor=200, admin=200),
        None,
    ),
    (
        "list users",
        "GET",
        "/v1/users",
        None,
        dict(owner=403, other=403, ml=403, auditor=403, admin=200),
        None,
    ),
    (
        "create user",
        "POST",
        "/v1/users",
        USER,
        dict(owner=403, other=403, ml=403, auditor=403, admin=201),
        None,
    ),
    (
        # the auditor's own role again: served, and the shared world stays as it is
        "change role",
        "PATCH",
        "/v1/users/auditor",
        ROLE,
        dict(owner=403, other=403, ml=403, auditor=403, admin=200),
        None,
    ),
    ("me", "GET", "/v1/me", None, dict(owner=200, other=200, ml=200, auditor=200, admin=200), None),
    (
        "health",
        "GET",
        "/health",
        None,
        dict(owner=200, other=200, ml=200, auditor=200, admin=200, anonymous=200),
        None,
    ),
]


@pytest.mark.parametrize("who", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "expected", "fresh"), CASES, ids=[c[0] for c in CASES]
)
def test_authorization_matrix(
    world: World,
    who: str,
    name: str,
    method: str,
    path: str,
    body: Any,
    expected: dict[str, int],
    fresh: str | None,
) -> None:
    want = expected.get(who, 401)  # no key: 401 everywhere but /health
    ids = dict(world.ids)
    if fresh and 200 <= want < 300:
        ids[fresh] = world.fresh_queued_job() if fresh == "Q" else world.fresh_pending_release()
    kwargs: dict[str, Any] = {}
    if body == "upload":
        kwargs = upload_body()
    elif body is not None:
        kwargs = {
            "json": {
                k: (v.format(**ids) if isinstance(v, str) else v) for k, v in body["json"].items()
            }
        }
        if name == "create user":
            kwargs["json"]["name"] = f"user-{who}"
    response = world.env.client.request(
        method, path.format(**ids), headers=world.headers(who), **kwargs
    )
    assert response.status_code == want, (
        f"{name} as {who}: {response.status_code} {response.text[:300]}"
    )
    if want >= 400:
        assert response.json()["detail"]  # every refusal says why
    if want == 401:
        assert response.headers.get("www-authenticate") == "Bearer"


def test_authorization_bad_and_revoked_keys_get_401(world: World) -> None:
    client = world.env.client
    for header in ("Bearer", "Bearer sg_not-a-key", "Basic dXNlcjpwYXNz", "sg_raw"):
        r = client.get("/v1/me", headers={"Authorization": header})
        assert r.status_code == 401, header
    with world.env.db.transaction() as session:
        from pipelines import auth

        issued = auth.create_user(
            session, name="leaver", role="auditor", actor=auth.operator("tests")
        )
    good = {"Authorization": f"Bearer {issued.key}"}
    assert client.get("/v1/me", headers=good).status_code == 200
    admin = world.headers("admin")
    assert client.post("/v1/users/leaver/revoke", headers=admin).status_code == 200
    assert client.get("/v1/me", headers=good).status_code == 401
    events = client.get("/v1/audit?action=key.revoke", headers=world.headers("auditor")).json()
    assert events and events[0]["object_id"] == issued.user.id


def test_authorization_ml_engineer_never_sees_real_data(world: World) -> None:
    """Nothing an ML engineer can reach carries a report, a verdict or a source path."""
    client, ml = world.env.client, world.headers("ml")
    for release in client.get("/v1/releases", headers=ml).json():
        assert release["state"] == "approved"
        for key in ("verdict", "source_id", "job_id", "report_formats", "decision_reason"):
            assert release[key] is None
    for path in (
        f"/v1/sources/{world.ids['S']}",
        "/v1/sources",
        f"/v1/sources/{world.ids['S']}/ledger",
    ):
        assert client.get(path, headers=ml).status_code == 403
    for fmt in ("html", "json", "pdf"):
        assert (
            client.get(
                f"/v1/releases/{world.ids['RA']}/report?format={fmt}", headers=ml
            ).status_code
            == 403
        )


def test_authorization_unknown_ids_are_404(world: World) -> None:
    for path in (
        "/v1/sources/nope",
        "/v1/jobs/nope",
        "/v1/releases/nope",
        "/v1/releases/nope/data",
    ):
        assert world.env.client.get(path, headers=world.headers("auditor")).status_code == 404, path
