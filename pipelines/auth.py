"""Users, roles and API keys.

A key is ``sg_`` followed by 43 URL-safe characters (256 random bits from the OS CSPRNG).
It is shown once, when it is created; the store keeps its sha256 (a slow password hash
buys nothing for a 256-bit random secret) and a short prefix to tell keys apart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select, update
from sqlalchemy.orm import Session

from pipelines import audit
from pipelines.actors import Actor
from pipelines.errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound
from pipelines.store.models import ApiKey, Role, User, utcnow

KEY_PREFIX = "sg_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def operator(name: str = "cli") -> Actor:
    """The local operator: whoever can run ``synthgen users ...`` on the server's data."""
    return Actor(id=None, name=f"operator:{name}", role=Role.admin)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedKey:
    user: User
    key: str  # the only time the key exists in clear


def _issue(session: Session, user: User) -> str:
    key = new_key()
    session.add(ApiKey(user_id=user.id, key_hash=hash_key(key), prefix=key[: len(KEY_PREFIX) + 6]))
    return key


def create_user(session: Session, *, name: str, role: str, actor: Actor) -> IssuedKey:
    if not NAME_PATTERN.match(name):
        raise InvalidRequest(
            "a user name is 1-100 letters, digits or . _ @ - and starts with a letter or digit"
        )
    if role not in Role.__members__:
        raise InvalidRequest(f"role must be one of {', '.join(Role.__members__)}")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} exists already")
    user = User(name=name, role=role)
    session.add(user)
    session.flush()
    key = _issue(session, user)
    audit.record(session, actor, "user.create", "user", user.id, {"name": name, "role": role})
    audit.record(session, actor, "key.create", "user", user.id, {"name": name})
    return IssuedKey(user=user, key=key)


def find_user(session: Session, name_or_id: str) -> User:
    user = session.scalar(select(User).where((User.name == name_or_id) | (User.id == name_or_id)))
    if user is None:
        raise NotFound(f"no user {name_or_id!r}")
    return user


def issue_key(session: Session, *, name_or_id: str, actor: Actor) -> IssuedKey:
    user = find_user(session, name_or_id)
    if user.disabled_at is not None:
        raise Conflict(f"user {user.name!r} is disabled")
    key = _issue(session, user)
    audit.record(session, actor, "key.create", "user", user.id, {"name": user.name})
    return IssuedKey(user=user, key=key)


def _other_admins_with_keys(session: Session, user_id: str) -> int:
    """Active admins other than ``user_id`` that hold a usable key. Locks the admin rows
    (PostgreSQL; SQLite's write transaction holds the database lock), so that two admins
    revoking each other at the same moment cannot both succeed."""
    admins = session.scalars(
        select(User.id)
        .where(User.role == Role.admin, User.disabled_at.is_(None))
        .order_by(User.id)
        .with_for_update()
    ).all()
    others = [a for a in admins if a != user_id]
    if not others:
        return 0
    return int(
        session.scalar(
            select(func.count(distinct(ApiKey.user_id))).where(
                ApiKey.user_id.in_(others), ApiKey.revoked_at.is_(None)
            )
        )
        or 0
    )


def revoke_user(session: Session, *, name_or_id: str, actor: Actor) -> int:
    """Disable a user and revoke all their keys; returns how many keys were revoked.
    The last active admin cannot be revoked (Conflict)."""
    user = find_user(session, name_or_id)
    _refuse_losing_last_admin(session, user, "revoking")
    now = utcnow()
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if user.disabled_at is None:
        user.disabled_at = now
    count = int(getattr(result, "rowcount", 0) or 0)
    audit.record(session, actor, "key.revoke", "user", user.id, {"name": user.name, "keys": count})
    return count


def _refuse_losing_last_admin(session: Session, user: User, doing: str) -> None:
    """Without an active admin only shell access to the server could manage users again."""
    if (
        user.role == Role.admin
        and user.disabled_at is None
        and _other_admins_with_keys(session, user.id) == 0
    ):
        raise Conflict(
            f"{user.name!r} is the last active admin; create another admin "
            f"(POST /v1/users, or `synthgen users create NAME --role admin`) before {doing} it"
        )


def change_role(session: Session, *, name_or_id: str, role: str, actor: Actor) -> User:
    """Give an active user another role; it holds from their next request (every request
    reads the role afresh, console sessions included). Demoting the last active admin is
    refused (Conflict), as revoking it is. A steward's sources stay theirs: while they hold
    another role nobody can change those sources, and they are theirs again if they are
    made a steward again."""
    if role not in Role.__members__:
        raise InvalidRequest(f"role must be one of {', '.join(Role.__members__)}")
    user = find_user(session, name_or_id)
    if user.disabled_at is not None:
        raise Conflict(f"user {user.name!r} is disabled")
    if user.role == role:
        return user
    _refuse_losing_last_admin(session, user, "demoting")
    previous = user.role
    user.role = role
    details = {"name": user.name, "from": previous, "to": role}
    audit.record(session, actor, "user.role", "user", user.id, details)
    return user


@dataclass(frozen=True)
class UserSummary:
    id: str
    name: str
    role: str
    created_at: datetime
    disabled_at: datetime | None
    active_keys: int


def list_users(session: Session) -> list[UserSummary]:
    users = session.scalars(select(User).order_by(User.created_at)).all()
    keys = (
        session.execute(select(ApiKey.user_id).where(ApiKey.revoked_at.is_(None))).scalars().all()
    )
    counts: dict[str, int] = {}
    for uid in keys:
        counts[uid] = counts.get(uid, 0) + 1
    return [
        UserSummary(u.id, u.name, u.role, u.created_at, u.disabled_at, counts.get(u.id, 0))
        for u in users
    ]


def authenticate(session: Session, key: str | None) -> Actor:
    if not key:
        raise AuthenticationFailed("missing API key (send `Authorization: Bearer KEY`)")
    row = session.execute(
        select(User.id, User.name, User.role)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(
            ApiKey.key_hash == hash_key(key),
            ApiKey.revoked_at.is_(None),
            User.disabled_at.is_(None),
        )
    ).first()
    if row is None:
        raise AuthenticationFailed("unknown or revoked API key")
    return Actor(id=row.id, name=row.name, role=row.role)
