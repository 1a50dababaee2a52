"""Console sessions in Redis, for an API served by several processes.

Used when the service has a shared Redis (``rate_limit_url``, which several API processes
need for their shared rate limit anyway): a session signed in on one process is valid on
all of them, and sign-out or revocation ends it everywhere. Redis keys are the sha256 of
the session id, so whoever can read Redis cannot take a session over; the record expires
``idle_seconds`` after its last use. If Redis does not answer, no session is found: the
console asks to sign in again rather than trusting anything stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

from api.ui.sessions import IDLE_SECONDS, ConsoleSession

log = logging.getLogger("synthgen.api")
PREFIX = "synthgen:console:"


def _key(session_id: str) -> str:
    return PREFIX + "s:" + hashlib.sha256(session_id.encode()).hexdigest()


def _user_key(user_id: str) -> str:
    return PREFIX + "u:" + user_id


class RedisSessionStore:
    def __init__(self, url: str, *, idle_seconds: float = IDLE_SECONDS) -> None:
        import redis

        self.idle_seconds = idle_seconds
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    @property
    def _ttl(self) -> int:
        return max(1, int(self.idle_seconds))

    def _write(self, session: ConsoleSession) -> None:
        record = {
            "csrf_token": session.csrf_token,
            "key_hash": session.key_hash,
            "user_id": session.user_id,
            "flash": session.flash,
        }
        pipe = self._redis.pipeline()
        pipe.set(_key(session.id), json.dumps(record), ex=self._ttl)
        if session.user_id:
            pipe.sadd(_user_key(session.user_id), _key(session.id))
            pipe.expire(_user_key(session.user_id), 24 * 3600)
        pipe.execute()

    def _new(self, key_hash: str | None, user_id: str | None) -> ConsoleSession:
        session = ConsoleSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            last_seen=0.0,
            key_hash=key_hash,
            user_id=user_id,
        )
        self._write(session)
        return session

    def anonymous(self) -> ConsoleSession:
        return self._new(None, None)

    def sign_in(self, previous_id: str | None, *, key_hash: str, user_id: str) -> ConsoleSession:
        if previous_id:
            self.drop(previous_id)
        return self._new(key_hash, user_id)

    def get(self, session_id: str | None) -> ConsoleSession | None:
        if not session_id:
            return None
        try:
            pipe = self._redis.pipeline()
            pipe.get(_key(session_id))
            pipe.expire(_key(session_id), self._ttl)
            raw: Any = pipe.execute()[0]
        except Exception as exc:
            log.warning("console sessions: Redis did not answer (%s)", type(exc).__name__)
            return None
        if raw is None:
            return None
        record = json.loads(raw)
        return ConsoleSession(
            id=session_id,
            csrf_token=record["csrf_token"],
            last_seen=0.0,
            key_hash=record["key_hash"],
            user_id=record["user_id"],
            flash=list(record.get("flash") or []),
        )

    def save(self, session: ConsoleSession) -> None:
        """Keep a change to the session (its messages) for the next request."""
        try:
            self._write(session)
        except Exception as exc:
            log.warning("console sessions: Redis did not answer (%s)", type(exc).__name__)

    def drop(self, session_id: str) -> None:
        self._redis.delete(_key(session_id))

    def drop_user(self, user_id: str) -> None:
        keys = list(self._redis.smembers(_user_key(user_id)))
        if keys:
            self._redis.delete(*keys)
        self._redis.delete(_user_key(user_id))
