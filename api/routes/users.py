"""Users and API keys (admins), and who am I (everyone)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminActor, CurrentActor, DatabaseDep, SessionDep
from api.schemas import (
    JSON_BODY_LIMIT,
    KeyIssued,
    Me,
    UserCreate,
    UserPublic,
    UserRoleChange,
    error_responses,
)
from pipelines import auth

router = APIRouter(tags=["users"], max_body_size=JSON_BODY_LIMIT)

ERRORS = error_responses(401, 403, 404)


def _public(summary: auth.UserSummary) -> UserPublic:
    return UserPublic(
        id=summary.id,
        name=summary.name,
        role=summary.role,
        created_at=summary.created_at,
        disabled_at=summary.disabled_at,
        active_keys=summary.active_keys,
    )


@router.get("/me", response_model=Me, responses=ERRORS)
def me(actor: CurrentActor) -> Me:
    return Me(id=actor.id, name=actor.name, role=actor.role)


@router.get("/users", response_model=list[UserPublic], responses=ERRORS)
def list_users(_actor: AdminActor, session: SessionDep) -> list[UserPublic]:
    return [_public(u) for u in auth.list_users(session)]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyIssued,
    responses={**ERRORS, **error_responses(409)},
)
def create_user(body: UserCreate, actor: AdminActor, db: DatabaseDep) -> KeyIssued:
    """Create a user with one API key. The key is in this response only: store it now."""
    with db.transaction() as session:
        issued = auth.create_user(session, name=body.name, role=body.role, actor=actor)
        user = UserPublic.model_validate(issued.user)
    return KeyIssued(user=user.model_copy(update={"active_keys": 1}), key=issued.key)


@router.post(
    "/users/{name}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyIssued,
    responses={**ERRORS, **error_responses(409)},
)
def issue_key(name: str, actor: AdminActor, db: DatabaseDep) -> KeyIssued:
    """Another key for a user (e.g. to rotate: issue, switch, then revoke the old ones)."""
    with db.transaction() as session:
        issued = auth.issue_key(session, name_or_id=name, actor=actor)
        user = UserPublic.model_validate(issued.user)
    return KeyIssued(user=user, key=issued.key)


@router.patch(
    "/users/{name}",
    response_model=UserPublic,
    responses={**ERRORS, **error_responses(409, 422)},
)
def change_role(name: str, body: UserRoleChange, actor: AdminActor, db: DatabaseDep) -> UserPublic:
    """Give a user (by name or id) another role. 409 for a disabled user, and for the last
    active admin (create another admin first). Audited as `user.role`."""
    with db.transaction() as session:
        user_id = auth.change_role(session, name_or_id=name, role=body.role, actor=actor).id
    with db.session() as session:
        return _public(next(u for u in auth.list_users(session) if u.id == user_id))


@router.post("/users/{name}/revoke", response_model=UserPublic, responses=ERRORS)
def revoke_user(name: str, actor: AdminActor, db: DatabaseDep) -> UserPublic:
    """Disable a user and revoke all their keys."""
    with db.transaction() as session:
        auth.revoke_user(session, name_or_id=name, actor=actor)
    with db.session() as session:
        summary = next(u for u in auth.list_users(session) if u.name == name or u.id == name)
    return _public(summary)
