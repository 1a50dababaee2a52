"""Users, roles and keys (admins); the service's settings, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import DatabaseDep, SessionDep, SettingsDep
from api.ui.core import (
    ROLE_NAMES,
    AdminPage,
    Csrf,
    PageRoute,
    flash,
    redirect,
    render,
    sessions,
)
from pipelines import auth
from pipelines.settings import Settings
from pipelines.store.models import Role

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)

# settings that are safe to show (URLs may carry passwords; paths are the operator's)
SHOWN_SETTINGS = (
    "executor",
    "requests_per_minute",
    "max_open_jobs_per_user",
    "max_open_rows_per_user",
    "max_upload_bytes",
    "max_rows",
    "max_columns",
    "max_sample_rows",
    "holdout",
    "train_max_steps",
    "lease_seconds",
)


def shown_settings(settings: Settings) -> list[tuple[str, Any]]:
    return [(n, getattr(settings, n)) for n in SHOWN_SETTINGS if hasattr(settings, n)]


def _page(request: Request, session: Any, settings: Settings, **extra: Any) -> Response:
    return render(
        request,
        "admin.html",
        {
            "users": auth.list_users(session),
            "roles": list(Role),
            "settings": shown_settings(settings),
            **extra,
        },
    )


@router.get("/admin", response_class=HTMLResponse)
def admin_page(
    request: Request, _actor: AdminPage, session: SessionDep, settings: SettingsDep
) -> Response:
    return _page(request, session, settings)


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[Csrf])
def create_user(
    request: Request,
    actor: AdminPage,
    db: DatabaseDep,
    settings: SettingsDep,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    """The new key is on this response only (no redirect: it is not kept anywhere)."""
    with db.transaction() as session:
        issued = auth.create_user(session, name=name.strip(), role=role, actor=actor)
        key = issued.key
    with db.session() as session:
        return _page(request, session, settings, new_key=key, new_key_user=name.strip())


@router.post("/admin/users/{name}/keys", response_class=HTMLResponse, dependencies=[Csrf])
def issue_key(
    request: Request, name: str, actor: AdminPage, db: DatabaseDep, settings: SettingsDep
) -> Response:
    with db.transaction() as session:
        key = auth.issue_key(session, name_or_id=name, actor=actor).key
    with db.session() as session:
        return _page(request, session, settings, new_key=key, new_key_user=name)


@router.post("/admin/users/{name}/role", dependencies=[Csrf])
def change_role(
    request: Request,
    name: str,
    actor: AdminPage,
    db: DatabaseDep,
    role: Annotated[str, Form(max_length=20)],
) -> Response:
    """The role holds from the user's next request (their console sessions included)."""
    with db.transaction() as session:
        user = auth.change_role(session, name_or_id=name, role=role, actor=actor)
        shown = ROLE_NAMES.get(Role(user.role), user.role)
        demoted_self = user.id == actor.id and user.role != Role.admin
    flash(request, f"{name} is now {shown}")
    # an admin who gave up the role can no longer open this page: their role's home
    return redirect("/ui" if demoted_self else "/ui/admin")


@router.post("/admin/users/{name}/revoke", dependencies=[Csrf])
def revoke_user(request: Request, name: str, actor: AdminPage, db: DatabaseDep) -> Response:
    with db.transaction() as session:
        user_id = auth.find_user(session, name).id
        count = auth.revoke_user(session, name_or_id=name, actor=actor)
    sessions(request).drop_user(user_id)
    flash(request, f"{name} disabled; {count} key(s) revoked")
    return redirect("/ui/admin")
