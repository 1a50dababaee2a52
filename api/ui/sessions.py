"""Console sessions: an API key exchanged for a server-side session.

The browser holds only a random session id (256 bits) in an HttpOnly, SameSite=Strict
cookie scoped to ``/ui`` (Secure when the request came over TLS). The key itself is never
kept: the session keeps the key's sha256, and every request checks that the key is still
active and its user enabled, so revoking a key ends its sessions at their next request.

- Sign-in issues a new session id whatever id the browser sent (no fixation); the
  pre-sign-in session that carried the sign-in form's CSRF token is dropped.
- A session unused for ``idle_seconds`` is gone; sign-out deletes it.
- Each session has its own CSRF token, checked on every form post (``csrf_ok``).

``SessionStore`` keeps sessions in this process's memory (a restart signs everyone out);
with a shared Redis (``rate_limit_url``) the console uses ``RedisSessionStore``
(api/ui/redis_sessions.py) instead, so that several API processes share them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from pipelines.auth import Actor
from pipelines.store.models import ApiKey, User

COOKIE = "synthgen_console"
COOKIE_PATH = "/ui"
IDLE_SECONDS = 15 * 60
MAX_SESSIONS = 10_000


@dataclass
class ConsoleSession:
    id: str
    csrf_token: str
    last_seen: float
    key_hash: str | None = None  # None: not signed in (carries the sign-in form's token)
    user_id: str | None = None
    flash: list[str] = field(default_factory=list)


class SessionStore:
    def __init__(
        self, *, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._sessions: dict[str, ConsoleSession] = {}
        self._lock = threading.Lock()

    def _new(self, key_hash: str | None, user_id: str | None) -> ConsoleSession:
        session = ConsoleSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            last_seen=self.clock(),
            key_hash=key_hash,
            user_id=user_id,
        )
        with self._lock:
            self._expire()
            if len(self._sessions) >= MAX_SESSIONS:  # drop the least recently used
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def anonymous(self) -> ConsoleSession:
        return self._new(None, None)

    def sign_in(self, previous_id: str | None, *, key_hash: str, user_id: str) -> ConsoleSession:
        """A fresh session for the signed-in user; the previous one is dropped."""
        if previous_id:
            self.drop(previous_id)
        return self._new(key_hash, user_id)

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The session, if it exists and has been used within the idle timeout; touches it."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def save(self, session: ConsoleSession) -> None:
        """Sessions here are the objects themselves: nothing to write back."""

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def drop_user(self, user_id: str) -> None:
        with self._lock:
            for sid in [s.id for s in self._sessions.values() if s.user_id == user_id]:
                del self._sessions[sid]

    def _expire(self) -> None:
        now = self.clock()
        for sid in [s.id for s in self._sessions.values() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[sid]


def csrf_ok(session: ConsoleSession | None, token: str | None) -> bool:
    return (
        session is not None
        and bool(token)
        and secrets.compare_digest(session.csrf_token.encode(), (token or "").encode())
    )


def actor_for(db_session: DbSession, key_hash: str) -> Actor | None:
    """The user behind an active key, by the key's hash (None: revoked or disabled)."""
    row = db_session.execute(
        select(User.id, User.name, User.role)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(
            ApiKey.key_hash == key_hash,
            ApiKey.revoked_at.is_(None),
            User.disabled_at.is_(None),
        )
    ).first()
    return None if row is None else Actor(id=row.id, name=row.name, role=row.role)
