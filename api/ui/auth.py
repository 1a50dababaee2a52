"""Sign-in, sign-out and the landing page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import DatabaseDep, get_rate_limiter
from api.limits import enforce
from api.ui.core import Csrf, PageActor, PageRoute, redirect, render, sessions
from api.ui.sessions import COOKIE, COOKIE_PATH, actor_for
from pipelines import audit
from pipelines.auth import hash_key
from pipelines.store.models import Role

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

LANDING = {
    Role.steward: "/ui/sources",
    Role.ml_engineer: "/ui/releases",
    Role.auditor: "/ui/releases",
    Role.admin: "/ui/admin",
}


def set_cookie(request: Request, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        path=COOKIE_PATH,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="strict",
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    """The sign-in form, with a fresh anonymous session to carry its CSRF token."""
    session = sessions(request).anonymous()
    request.state.console = session
    response = render(request, "login.html")
    set_cookie(request, response, session.id)
    return response


@router.post("/login", response_class=HTMLResponse, dependencies=[Csrf])
def login(request: Request, db: DatabaseDep, key: Annotated[str, Form(max_length=200)]) -> Response:
    """Exchange a key for a session; the key goes in the form body, never in a URL."""
    store = sessions(request)
    key_hash = hash_key(key.strip())
    with db.session() as db_session:
        actor = actor_for(db_session, key_hash)
    limiter = get_rate_limiter(request)
    if actor is None:
        address = request.client.host if request.client else "unknown"
        enforce(limiter, f"address:{address}", "too many sign-in attempts")
        audit.record_alone(
            db,
            None,
            "console.sign_in",
            None,
            None,
            {"status": 401, "error": "AuthenticationFailed", "request": "POST /ui/login"},
            outcome=audit.REFUSED,
        )
        anonymous = store.anonymous()
        request.state.console = anonymous
        refused = render(
            request, "login.html", {"error": "unknown or revoked API key"}, status_code=401
        )
        set_cookie(request, refused, anonymous.id)
        return refused
    assert actor.id is not None
    session = store.sign_in(request.cookies.get(COOKIE), key_hash=key_hash, user_id=actor.id)
    audit.record_alone(db, actor, "console.sign_in", "user", actor.id, {})
    response = redirect(LANDING.get(Role(actor.role), "/ui"))
    set_cookie(request, response, session.id)
    return response


@router.post("/logout", dependencies=[Csrf])
def logout(request: Request) -> Response:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        sessions(request).drop(session_id)
    response = redirect("/ui/login")
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


@router.get("", response_class=HTMLResponse)
def home(actor: PageActor) -> Response:
    return redirect(LANDING.get(Role(actor.role), "/ui/login"))
