"""With a shared Redis, console sessions are shared by API processes (two apps here)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.ui.redis_sessions import PREFIX, RedisSessionStore
from api.ui.sessions import COOKIE
from tests.support.service import COHORT_SCHEMA, DEFAULT_REDIS, ServiceEnv, unavailable
from tests.ui.conftest import page_token, sign_in


@pytest.fixture
def redis_url() -> str:
    import redis

    url = os.environ.get("SYNTHGEN_TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        unavailable(f"Redis at {url}")
    return url


@pytest.fixture
def two_processes(
    sqlite_service: ServiceEnv, redis_url: str
) -> Iterator[tuple[TestClient, TestClient]]:
    settings = sqlite_service.settings.model_copy(update={"rate_limit_url": redis_url})
    first, second = create_app(settings), create_app(settings)
    assert isinstance(first.state.console_sessions, RedisSessionStore)
    with (
        TestClient(first, base_url="https://testserver") as a,
        TestClient(second, base_url="https://testserver") as b,
    ):
        yield a, b


def test_session_signed_in_on_one_process_works_on_another(
    sqlite_service: ServiceEnv,
    cohort: bytes,
    redis_url: str,
    two_processes: tuple[TestClient, TestClient],
) -> None:
    import redis

    a, b = two_processes
    source_id = sqlite_service.ready_source(cohort, COHORT_SCHEMA)
    assert sign_in(a, sqlite_service.key("steward")).status_code == 303
    session_id = a.cookies.get(COOKIE)
    assert session_id
    b.cookies.set(COOKIE, session_id, path="/ui")
    assert b.get("/ui/sources").status_code == 200
    # a message set on one process shows on the other; the CSRF token is shared too
    token = page_token(a, f"/ui/sources/{source_id}")
    moved = a.post(
        f"/ui/sources/{source_id}/budget",
        data={"epsilon_budget": "7", "csrf_token": token},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert "budget set to epsilon 7" in b.get(f"/ui/sources/{source_id}").text
    # Redis holds the id's hash, never the id
    keys = [
        k.decode() if isinstance(k, bytes) else k
        for k in redis.Redis.from_url(redis_url).keys(PREFIX + "*")
    ]
    assert keys and not any(session_id in k for k in keys)
    # sign-out on one ends it on both
    token = page_token(b, "/ui/sources")
    assert (
        b.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    )
    a.cookies.set(COOKIE, session_id, path="/ui")
    assert a.get("/ui/sources", follow_redirects=False).status_code == 303


def test_unreachable_redis_asks_to_sign_in_again() -> None:
    store = RedisSessionStore("redis://127.0.0.1:1/0")
    assert store.get("anything") is None
