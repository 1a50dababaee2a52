"""Errors of the service layer. The API maps each class to one HTTP status.

Like the library's errors, messages name files, columns, ids and counts, never a value
read from source data: they reach clients, logs and the job table.
"""

from __future__ import annotations

from synthgen.errors import SynthgenError


class ServiceError(SynthgenError):
    """Base class of the errors the service raises on a request it refuses."""


class NotFound(ServiceError):
    """No such object, or the caller may not know that it exists."""


class Forbidden(ServiceError):
    """The caller's role may not do this."""


class AuthenticationFailed(ServiceError):
    """No key, or a key that is unknown or revoked."""


class Conflict(ServiceError):
    """The object is in a state that does not allow this (a finished job, a decided release)."""


class QuotaExceeded(Conflict):
    """A user has as many open jobs (or records in them) as the deployment allows."""


class RateLimited(ServiceError):
    """A key sent more requests per minute than the deployment allows."""

    def __init__(self, message: str, *, retry_after: int, first: bool = True) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.first = first  # the first refusal of a run (the audit log records only it)


class InvalidRequest(ServiceError):
    """The request is well-formed but its values do not make sense together."""


class PayloadTooLarge(ServiceError):
    """An upload exceeds a size, row or archive limit."""


class UnsupportedMediaType(ServiceError):
    """An upload is not a type the service reads."""


class Unavailable(ServiceError):
    """A dependency (store, broker, a library part) is not available."""


def describe(exc: BaseException) -> str:
    """How an error reads in a job record: the library's message (which never quotes data),
    with a schema mismatch's problems spelled out."""
    from synthgen.errors import SchemaMismatch

    if isinstance(exc, SchemaMismatch) and exc.problems:
        head = str(exc).split("\n")[0].rstrip(":")
        return f"{head}: {'; '.join(exc.problems)}"[:4000]
    return str(exc)[:4000] or type(exc).__name__
