"""Console tests reuse the service fixtures (a store on SQLite and PostgreSQL, an app on
the fake ML library, users of each role)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.support.service import SHARED_DATA, ServiceEnv

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HEART = SHARED_DATA / "tabular" / "heart_disease_cleveland.csv"
LIVER = SHARED_DATA / "tabular" / "indian_liver_patient.csv"  # its draft proposes rules


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, key: str) -> Any:
    """Sign in through the form; returns the response of the post (a 303 on success)."""
    form = client.get("/ui/login")
    assert form.status_code == 200, form.text
    return client.post(
        "/ui/login",
        data={"key": key, "csrf_token": csrf_token(form.text)},
        follow_redirects=False,
    )


def signed_in(env: ServiceEnv, role: str, name: str | None = None) -> TestClient:
    """A fresh client of the env's app, signed in as (a new user of) ``role``."""
    client = TestClient(env.app, base_url="https://testserver")
    response = sign_in(client, env.key(role, name))
    assert response.status_code == 303, response.text
    return client


def page_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_token(page.text)
