"""What every console page shares: templates, the signed-in actor, role checks, CSRF, and
errors shown as pages.

A page route declares its actor the way a JSON route does (``StewardPage`` mirrors
``api.deps.StewardActor``) and then calls the same ``pipelines`` functions, which check
the role again; so a page can do what the role can do through the API, and nothing else.
Refusals are recorded in the audit log as the API records them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api import auditing
from api.deps import DatabaseDep, get_rate_limiter
from api.errors import status_for
from api.limits import enforce
from api.ui.redis_sessions import RedisSessionStore
from api.ui.sessions import COOKIE, ConsoleSession, SessionStore, actor_for, csrf_ok
from pipelines.auth import Actor
from pipelines.errors import Forbidden, RateLimited, redact_paths
from pipelines.store.models import Role
from synthgen.errors import SchemaMismatch, SynthgenError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
ROLE_NAMES = {
    Role.steward: "data steward",
    Role.ml_engineer: "ML engineer",
    Role.auditor: "auditor",
    Role.admin: "admin",
}
templates.env.globals["role_names"] = ROLE_NAMES


class SignInNeeded(Exception):
    """No live session: the page answers with a redirect to the sign-in form."""


class CsrfRefused(Exception):
    """A form post without the session's CSRF token."""


def sessions(request: Request) -> SessionStore | RedisSessionStore:
    store: SessionStore | RedisSessionStore = request.app.state.console_sessions
    return store


def current(request: Request) -> ConsoleSession | None:
    return getattr(request.state, "console", None)


def page_actor(request: Request, db: DatabaseDep) -> Actor:
    """The signed-in user, within their key's requests per minute (the API's bucket)."""
    session = sessions(request).get(request.cookies.get(COOKIE))
    if session is None or session.key_hash is None:
        raise SignInNeeded
    with db.session() as db_session:
        actor = actor_for(db_session, session.key_hash)
    if actor is None:  # the key was revoked or its user disabled
        sessions(request).drop(session.id)
        raise SignInNeeded
    request.state.console = session
    request.state.actor = actor
    limiter = get_rate_limiter(request)
    refused = f"more than {limiter.per_minute} requests per minute with this key"
    enforce(limiter, f"key:{session.key_hash}", refused)
    return actor


PageActor = Annotated[Actor, Depends(page_actor)]


def page_require(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = ", ".join(ROLE_NAMES[r] for r in roles)

    async def check(actor: PageActor) -> Actor:
        if actor.role not in roles:
            raise Forbidden(
                f"this page needs the role {allowed}; you are signed in as "
                f"{ROLE_NAMES.get(Role(actor.role), actor.role)}"
            )
        return actor

    return check


StewardPage = Annotated[Actor, Depends(page_require(Role.steward))]
MLEngineerPage = Annotated[Actor, Depends(page_require(Role.ml_engineer))]
AdminPage = Annotated[Actor, Depends(page_require(Role.admin))]
AuditPage = Annotated[Actor, Depends(page_require(Role.auditor, Role.admin))]
SourcePage = Annotated[Actor, Depends(page_require(Role.steward, Role.auditor))]
ReleasePage = Annotated[Actor, Depends(page_require(Role.steward, Role.auditor, Role.ml_engineer))]
ReportPage = Annotated[Actor, Depends(page_require(Role.steward, Role.auditor))]


async def check_csrf(request: Request) -> None:
    """Every form post carries the session's token in a hidden field."""
    form = await request.form()
    token = form.get("csrf_token")
    session = sessions(request).get(request.cookies.get(COOKIE))
    if not csrf_ok(session, token if isinstance(token, str) else None):
        raise CsrfRefused


Csrf = Depends(check_csrf)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    session = current(request)
    values: dict[str, Any] = {
        "actor": getattr(request.state, "actor", None),
        "csrf_token": session.csrf_token if session else "",
        "flash": session.flash[:] if session else [],
        **(context or {}),
    }
    if session is not None and session.flash:
        session.flash.clear()
        sessions(request).save(session)
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def flash(request: Request, message: str) -> None:
    """A message for the next page this session shows."""
    session = current(request)
    if session is not None:
        session.flash.append(message)
        sessions(request).save(session)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


async def error_page(
    request: Request, status: int, title: str, detail: str, problems: list[str] | None = None
) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": title, "detail": detail, "problems": problems or [], "status": status},
        status_code=status,
    )


TITLES = {
    401: "Sign-in needed",
    403: "Not allowed for your role",
    404: "Not found",
    409: "Refused",
    413: "Too large",
    415: "Unsupported file",
    422: "Check the form",
    429: "Too many requests",
    503: "Unavailable",
}


def refusal(request: Request, exc: SynthgenError) -> tuple[int, str, list[str]]:
    """The status, the one-line detail and the problems a page shows for a refused
    request; paths are redacted as the API's JSON errors redact them."""
    data_dir = request.app.state.services.settings.data_dir
    detail = redact_paths(str(exc).split("\n")[0], data_dir) or type(exc).__name__
    problems = (
        [redact_paths(p, data_dir) for p in exc.problems] if isinstance(exc, SchemaMismatch) else []
    )
    return status_for(exc), detail, problems


class PageRoute(APIRoute):
    """Answers a refused request with a page (same status as the API would give)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                return redirect("/ui/login")
            except CsrfRefused:
                reason = "the form has expired or did not come from this console; reload it"
                await auditing.record_refusal(request, 403, "CsrfRefused", reason)
                return await error_page(request, 403, "Form refused", reason)
            except RequestValidationError as exc:
                problems = [
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
                    for e in exc.errors()
                ]
                return await error_page(request, 422, TITLES[422], "", problems)
            except SynthgenError as exc:
                code, detail, problems = refusal(request, exc)
                if code in auditing.REFUSALS and (not isinstance(exc, RateLimited) or exc.first):
                    await auditing.record_refusal(request, code, type(exc).__name__, detail)
                return await error_page(
                    request, code, TITLES.get(code, "Refused"), detail, problems
                )

        return page_handler
