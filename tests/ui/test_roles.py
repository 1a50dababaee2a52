"""Changing a user's role: the JSON route (admins only, the last admin kept, audited) and
the admin page's form that uses it."""

from __future__ import annotations

import pytest

from tests.support.service import ServiceEnv
from tests.ui.conftest import page_token, signed_in


def _patch(env: ServiceEnv, name: str, role: str, as_role: str = "admin") -> object:
    return env.client.patch(f"/v1/users/{name}", json={"role": role}, headers=env.headers(as_role))


def test_change_role_route_admin_changes_role_audited(service: ServiceEnv) -> None:
    env = service
    env.key("steward", "carol")
    changed = _patch(env, "carol", "auditor")
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "auditor" and changed.json()["name"] == "carol"
    # the role holds from the next request
    me = env.client.get("/v1/me", headers=env.headers("steward", "carol"))
    assert me.json()["role"] == "auditor"
    events = env.client.get(
        "/v1/audit", params={"action": "user.role"}, headers=env.headers("auditor")
    ).json()
    assert len(events) == 1
    assert events[0]["details"] == {"name": "carol", "from": "steward", "to": "auditor"}
    # by id as well; the same role again changes nothing and records nothing
    user_id = changed.json()["id"]
    assert _patch(env, user_id, "auditor").status_code == 200
    again = env.client.get(
        "/v1/audit", params={"action": "user.role"}, headers=env.headers("auditor")
    ).json()
    assert len(again) == 1


@pytest.mark.parametrize("role", ["steward", "ml_engineer", "auditor"])
def test_change_role_route_other_roles_refused(sqlite_service: ServiceEnv, role: str) -> None:
    env = sqlite_service
    env.key("steward", "carol")
    response = _patch(env, "carol", "admin", as_role=role)
    assert response.status_code == 403
    assert env.client.get("/v1/me", headers=env.headers("steward", "carol")).json()["role"] == (
        "steward"
    )


def test_change_role_route_bad_input(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    env.key("steward", "carol")
    assert _patch(env, "carol", "superuser").status_code == 422
    assert _patch(env, "nobody", "auditor").status_code == 404
    extra = env.client.patch(
        "/v1/users/carol", json={"role": "auditor", "name": "x"}, headers=env.headers("admin")
    )
    assert extra.status_code == 422


def test_last_admin_cannot_be_demoted(service: ServiceEnv) -> None:
    env = service
    env.key("admin")
    last = _patch(env, "admin", "steward")
    assert last.status_code == 409 and "last active admin" in last.json()["detail"]
    assert "before demoting it" in last.json()["detail"]
    refused = env.client.get(
        "/v1/audit",
        params={"action": "user.role", "outcome": "refused"},
        headers=env.headers("admin"),
    ).json()
    assert refused and refused[0]["details"]["status"] == 409
    # with a second admin, the first may become a steward
    env.key("admin", "second")
    assert _patch(env, "admin", "steward").status_code == 200
    assert env.client.get("/v1/me", headers=env.headers("admin")).json()["role"] == "steward"
    # and now "second" is the last one
    assert _patch(env, "second", "auditor", as_role="admin").status_code == 403
    assert (
        env.client.patch(
            "/v1/users/second", json={"role": "auditor"}, headers=env.headers("admin", "second")
        ).status_code
        == 409
    )


def test_disabled_user_role_unchanged(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    env.key("steward", "leaver")
    assert (
        env.client.post("/v1/users/leaver/revoke", headers=env.headers("admin")).status_code == 200
    )
    response = _patch(env, "leaver", "auditor")
    assert response.status_code == 409 and "disabled" in response.json()["detail"]


def test_admin_page_changes_role(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    carol_console = signed_in(env, "steward", "carol")
    assert carol_console.get("/ui/sources").status_code == 200
    admin = signed_in(env, "admin")
    page = admin.get("/ui/admin")
    assert 'action="/ui/admin/users/carol/role"' in page.text
    assert "New role for carol" in page.text  # each select has its label
    token = page_token(admin, "/ui/admin")
    # without the CSRF token: refused, nothing changed
    assert admin.post("/ui/admin/users/carol/role", data={"role": "auditor"}).status_code == 403
    changed = admin.post(
        "/ui/admin/users/carol/role",
        data={"role": "auditor", "csrf_token": token},
        follow_redirects=False,
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/ui/admin"
    assert "carol is now auditor" in admin.get("/ui/admin").text
    # carol's open session has the new role at once
    assert carol_console.get("/ui/audit").status_code == 200
    # the last admin is refused with a page that says why
    last = admin.post("/ui/admin/users/admin/role", data={"role": "steward", "csrf_token": token})
    assert last.status_code == 409 and "last active admin" in last.text
    assert admin.get("/ui/admin").status_code == 200  # still an admin
    bad = admin.post("/ui/admin/users/carol/role", data={"role": "root", "csrf_token": token})
    assert bad.status_code == 422
    # other roles cannot post the form
    steward = signed_in(env, "steward")
    steward_token = page_token(steward, "/ui/sources")
    assert (
        steward.post(
            "/ui/admin/users/carol/role", data={"role": "steward", "csrf_token": steward_token}
        ).status_code
        == 403
    )


def test_admin_page_self_demotion_goes_home(sqlite_service: ServiceEnv) -> None:
    env = sqlite_service
    env.key("admin", "second")
    admin = signed_in(env, "admin")
    token = page_token(admin, "/ui/admin")
    response = admin.post(
        "/ui/admin/users/admin/role",
        data={"role": "auditor", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui"
    home = admin.get("/ui")
    assert home.status_code == 200 and "admin is now auditor" in home.text
    assert admin.get("/ui/admin").status_code == 403
