"""Request limits of the API process: requests per minute per key, and API keys kept out
of URLs.

Two rate limiters with one interface (``take(name) -> Refusal | None``):
- ``RateLimiter`` (the default) is in-process: each API process (``serve --api-processes
  N``) keeps its own buckets, so N processes admit up to N times the limit, and a restart
  forgets every bucket. Right for one API process.
- ``RedisRateLimiter`` (``SYNTHGEN_RATE_LIMIT_URL``) counts in Redis, shared by every API
  process of the deployment: fixed one-minute windows, so a client may get up to twice the
  limit across a window boundary. When Redis does not answer it lets requests through
  (and logs it): losing the limit for a while beats refusing every request.
Neither stores a key: bucket names carry the key's sha256 or the client address.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from pipelines import audit
from pipelines.auth import authenticate
from pipelines.errors import AuthenticationFailed, RateLimited
from pipelines.store.db import Database

log = logging.getLogger("synthgen.api")

# buckets kept at most (least recently used dropped first): bounds memory under a flood of
# distinct client addresses; a dropped bucket comes back full, which only favours its owner
MAX_BUCKETS = 50_000


@dataclass
class _Bucket:
    tokens: float
    at: float
    refused: bool = False  # refused since it last admitted a request


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # whole seconds until the bucket holds a request again
    first: bool  # the first refusal since the bucket last admitted a request


class RateLimiter:
    """Token buckets of ``per_minute`` requests, refilled evenly over the minute (so a
    client may burst a whole minute's worth, then goes at per_minute / 60 per second).
    ``per_minute`` 0: no limit. Thread-safe (sync dependencies run in a thread pool)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str) -> Refusal | None:
        """Spend one request from bucket ``name``; None when allowed."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.per_minute), at=now)
                self._buckets[name] = bucket
                if len(self._buckets) > MAX_BUCKETS:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(name)
                bucket.tokens = min(
                    float(self.per_minute), bucket.tokens + (now - bucket.at) * self._rate
                )
                bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                bucket.refused = False
                return None
            first = not bucket.refused
            bucket.refused = True
            return Refusal(max(1, math.ceil((1.0 - bucket.tokens) / self._rate)), first)


class RedisRateLimiter:
    """``per_minute`` requests per fixed minute window, counted in Redis (``INCR`` of a key
    that expires with its window), shared by every API process that uses the same Redis."""

    PREFIX = "synthgen:rate:"

    def __init__(
        self, per_minute: int, url: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        import redis  # the Celery extra's client; only a deployment that asks for it needs it

        self.per_minute = per_minute
        self._clock = clock
        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._warned_at = -math.inf

    def take(self, name: str) -> Refusal | None:
        if self.per_minute <= 0:
            return None
        now = self._clock()
        window = int(now // 60)
        key = f"{self.PREFIX}{name}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, 120)
            count = int(pipe.execute()[0])
        except Exception as exc:  # Redis down or slow: let the request through
            if now - self._warned_at > 60:
                self._warned_at = now
                log.warning(
                    "rate limit not enforced: Redis is unavailable (%s)", type(exc).__name__
                )
            return None
        if count <= self.per_minute:
            return None
        retry_after = max(1, math.ceil((window + 1) * 60 - now))
        return Refusal(retry_after, count == self.per_minute + 1)


def make_rate_limiter(per_minute: int, url: str | None) -> RateLimiter | RedisRateLimiter:
    return RedisRateLimiter(per_minute, url) if url and per_minute > 0 else RateLimiter(per_minute)


def enforce(limiter: RateLimiter | RedisRateLimiter, name: str, refused: str) -> None:
    """Take one request from bucket ``name``; over the limit, ``RateLimited`` says
    ``refused`` and when to retry."""
    refusal = limiter.take(name)
    if refusal is not None:
        raise RateLimited(
            f"{refused}; retry in {refusal.retry_after} s",
            retry_after=refusal.retry_after,
            first=refusal.first,
        )


# -- keys in URLs ----------------------------------------------------------------------------------
# parameter names that say "a credential", and values that look like one of our keys
CREDENTIAL_NAMES = frozenset(
    {"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization"}
)
KEY_PATTERN = re.compile(r"sg_[A-Za-z0-9_-]{16,}")
KEY_IN_URL = (
    "API keys are accepted only in the Authorization header (`Authorization: Bearer KEY`), "
    "never in a URL: URLs end up in proxy logs and browser histories. Treat a key sent "
    "this way as exposed."
)


def credentials_in(query_string: bytes) -> list[str] | None:
    """None when the query string carries no credential; else the values that look like
    keys (possibly none: ``?api_key=`` with anything is refused all the same)."""
    text = query_string.decode("latin-1")
    try:
        pairs = parse_qsl(text, keep_blank_values=True)
    except ValueError:
        pairs = []
    keys = KEY_PATTERN.findall(text) + [m for _, v in pairs for m in KEY_PATTERN.findall(v)]
    if keys or any(name.strip().lower() in CREDENTIAL_NAMES for name, _ in pairs):
        return sorted(set(keys))
    return None


def record_exposed_keys(db: Database, keys: list[str], path: str) -> None:
    """A valid key sent in a URL is recorded (``key.exposed``, refused) under its user, so
    an admin knows whose key to replace; the key itself is never written anywhere. Keys
    that match no user leave no trace (nobody can fill the log with made-up ones)."""
    for key in keys:
        with db.session() as session:
            try:
                actor = authenticate(session, key)
            except AuthenticationFailed:
                continue
        audit.record_alone(
            db,
            actor,
            "key.exposed",
            "user",
            actor.id,
            {"status": 400, "error": "KeyInURL", "where": "query string", "path": path[:200]},
            outcome=audit.REFUSED,
        )


class RejectKeyInURL:
    """A request whose query string carries a credential is answered 400 before any route
    runs, and its query string is replaced in the ASGI scope *in place*: uvicorn's access
    log reads the same scope when it logs the response, so the key never reaches a log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        keys = None
        if scope["type"] == "http" and scope.get("query_string"):
            keys = credentials_in(scope["query_string"])
        if keys is None:
            await self.app(scope, receive, send)
            return
        scope["query_string"] = b"REDACTED"
        services = getattr(scope.get("app"), "state", None)
        db = getattr(getattr(services, "services", None), "db", None)
        if keys and db is not None:
            await run_in_threadpool(record_exposed_keys, db, keys, scope.get("path", ""))
        response = JSONResponse({"detail": KEY_IN_URL, "error": "KeyInURL"}, status_code=400)
        await response(scope, receive, send)
