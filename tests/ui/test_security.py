"""The console's session, CSRF and header rules, over HTTP (TestClient)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from api.ui.sessions import COOKIE
from tests.support.service import ServiceEnv
from tests.ui.conftest import csrf_token, page_token, sign_in, signed_in


def _cookie_header(response: httpx.Response) -> str:
    headers = response.headers.get_list("set-cookie")
    return next(h for h in headers if h.startswith(COOKIE + "="))


def test_sign_in_issues_new_session_id_no_fixation(sqlite_service: ServiceEnv) -> None:
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    form = client.get("/ui/login")
    before = client.cookies.get(COOKIE)
    assert before
    response = client.post(
        "/ui/login",
        data={"key": sqlite_service.key("steward"), "csrf_token": csrf_token(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    after = client.cookies.get(COOKIE)
    assert after and after != before
    # the pre-sign-in id is worthless: a planted id gives no session
    attacker = TestClient(sqlite_service.app, base_url="https://testserver")
    attacker.cookies.set(COOKIE, before, path="/ui")
    assert attacker.get("/ui/sources", follow_redirects=False).status_code == 303


def test_session_cookie_httponly_strict_secure_over_tls(sqlite_service: ServiceEnv) -> None:
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    response = sign_in(client, sqlite_service.key("steward"))
    cookie = _cookie_header(response).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert "path=/ui" in cookie
    plain = TestClient(sqlite_service.app)
    assert "secure" not in _cookie_header(plain.get("/ui/login")).lower()


def test_form_post_without_csrf_token_refused(sqlite_service: ServiceEnv) -> None:
    client = signed_in(sqlite_service, "steward")
    response = client.post("/ui/sources/x/budget", data={"epsilon_budget": "5"})
    assert response.status_code == 403
    assert "Form refused" in response.text
    wrong = client.post("/ui/sources/x/budget", data={"epsilon_budget": "5", "csrf_token": "x"})
    assert wrong.status_code == 403
    # and the refusal is in the audit log
    auditor = signed_in(sqlite_service, "auditor")
    log = auditor.get("/ui/audit", params={"outcome": "refused"})
    assert "CsrfRefused" in log.text


def test_sign_in_without_csrf_token_refused(sqlite_service: ServiceEnv) -> None:
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    client.get("/ui/login")
    response = client.post("/ui/login", data={"key": sqlite_service.key("steward")})
    assert response.status_code == 403


def test_wrong_key_answers_401_and_no_session(sqlite_service: ServiceEnv) -> None:
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    response = sign_in(client, "sg_not-a-key")
    assert response.status_code == 401
    assert "unknown or revoked" in response.text
    assert client.get("/ui/sources", follow_redirects=False).status_code == 303


def test_console_headers_deny_framing_and_caching(sqlite_service: ServiceEnv) -> None:
    client = signed_in(sqlite_service, "steward")
    for path in ("/ui/login", "/ui/sources"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    static = client.get("/ui/static/console.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
    assert "content-security-policy" not in client.get("/health").headers


def test_idle_session_expires(sqlite_service: ServiceEnv) -> None:
    now = [1000.0]
    store = sqlite_service.app.state.console_sessions
    store.clock = lambda: now[0]
    client = signed_in(sqlite_service, "steward")
    assert client.get("/ui/sources").status_code == 200
    now[0] += store.idle_seconds - 1
    assert client.get("/ui/sources").status_code == 200  # use keeps it alive
    now[0] += store.idle_seconds + 1
    response = client.get("/ui/sources", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/login"


def test_sign_out_ends_session(sqlite_service: ServiceEnv) -> None:
    client = signed_in(sqlite_service, "steward")
    old = client.cookies.get(COOKIE)
    token = page_token(client, "/ui/sources")
    assert (
        client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False).status_code
        == 303
    )
    replay = TestClient(sqlite_service.app, base_url="https://testserver")
    replay.cookies.set(COOKIE, old or "", path="/ui")
    assert replay.get("/ui/sources", follow_redirects=False).status_code == 303


def test_revoked_key_ends_session(sqlite_service: ServiceEnv) -> None:
    client = signed_in(sqlite_service, "steward", "leaver")
    admin = signed_in(sqlite_service, "admin")
    token = page_token(admin, "/ui/admin")
    assert (
        admin.post(
            "/ui/admin/users/leaver/revoke", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    assert client.get("/ui/sources", follow_redirects=False).status_code == 303


def test_keys_never_in_urls(sqlite_service: ServiceEnv) -> None:
    """Sign-in posts the key in the body; a key in a query string signs nobody in; a new
    key is on the page that creates it (no redirect that could carry it)."""
    key = sqlite_service.key("steward")
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    assert 'method="post" action="/ui/login"' in client.get("/ui/login").text
    # the API's guard answers a key in a query string with 400 on the console too
    for path in ("/ui/sources", "/ui/login"):
        response = client.get(path, params={"key": key}, follow_redirects=False)
        assert response.status_code == 400 and key not in response.text
    admin = signed_in(sqlite_service, "admin")
    token = page_token(admin, "/ui/admin")
    created = admin.post(
        "/ui/admin/users",
        data={"name": "newcomer", "role": "ml_engineer", "csrf_token": token},
        follow_redirects=False,
    )
    assert created.status_code == 200 and "shown this once" in created.text
    new_key = created.text.split('id="new-key" readonly value="')[1].split('"')[0]
    assert new_key.startswith("sg_")
    assert created.headers["cache-control"] == "no-store"
    assert new_key not in str(created.url)
    assert new_key not in admin.get("/ui/admin").text  # shown once
    for route in sqlite_service.app.routes:
        assert "key" not in getattr(route, "path", "").replace("/keys", "")


def test_pages_refuse_what_the_role_cannot(sqlite_service: ServiceEnv) -> None:
    """Each role's refusals: the page says so, with the API's status."""
    ml = signed_in(sqlite_service, "ml_engineer")
    for path in ("/ui/sources", "/ui/audit", "/ui/admin"):
        response = ml.get(path)
        assert response.status_code == 403, path
        assert "Not allowed for your role" in response.text
    steward = signed_in(sqlite_service, "steward")
    assert steward.get("/ui/admin").status_code == 403
    assert steward.get("/ui/audit").status_code == 403
    auditor = signed_in(sqlite_service, "auditor")
    token = page_token(auditor, "/ui/sources")
    assert (
        auditor.post(
            "/ui/sources/x/budget", data={"epsilon_budget": "5", "csrf_token": token}
        ).status_code
        == 403
    )
    admin = signed_in(sqlite_service, "admin")
    assert admin.get("/ui/sources").status_code == 403
    assert admin.get("/ui/releases").status_code == 403


def _console_routes() -> list[tuple[str, str]]:
    from fastapi.routing import APIRoute

    from api.ui import admin, audit, auth, jobs, releases, schema, sources

    return sorted(
        {
            (method, route.path)
            for module in (admin, audit, auth, jobs, releases, schema, sources)
            for route in module.router.routes
            if isinstance(route, APIRoute)
            for method in route.methods or ()
        }
    )


def test_every_console_route_needs_a_session(sqlite_service: ServiceEnv) -> None:
    """Without a session, every page but the sign-in form sends to sign-in, and every
    form post is refused; nothing answers 2xx."""
    routes = _console_routes()
    assert len(routes) >= 20
    client = TestClient(sqlite_service.app, base_url="https://testserver")
    for method, path in routes:
        url = path.replace("{", "").replace("}", "")  # a placeholder id
        response = client.request(method, url, follow_redirects=False)
        if path == "/ui/login":
            assert response.status_code == 200 if method == "GET" else 403, (method, path)
        elif method == "GET":
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"] == "/ui/login"
        else:
            assert response.status_code == 403, (method, path, response.status_code)
