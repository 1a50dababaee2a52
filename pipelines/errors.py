"""Errors of the service layer. The API maps each class to one HTTP status.

Like the library's errors, messages name files, columns, ids and counts, never a value
read from source data: they reach clients, logs and the job table.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

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


def describe(exc: BaseException, data_dir: Path | None = None) -> str:
    """How an error reads in a job record: the library's message (which never quotes data),
    with a schema mismatch's problems spelled out and server paths replaced by the role of
    the file they point to (``redact_paths``)."""
    from synthgen.errors import SchemaMismatch

    if isinstance(exc, SchemaMismatch) and exc.problems:
        head = str(exc).split("\n")[0].rstrip(":")
        text = f"{head}: {'; '.join(exc.problems)}"
    else:
        text = str(exc) or type(exc).__name__
    return redact_paths(text, data_dir)[:4000]


# -- server paths ------------------------------------------------------------------------------
# Library messages name files by their path, which is right on a steward's own machine and
# wrong in a service: a client must not learn the server's layout (nor a content hash, which
# the blob names are). Where the service calls the library it names files by their role; this
# is the last resort for messages that still carry a path (API error bodies, job errors).
_PATH_CHARS = r"[^\s'\"`,;()\[\]{}<>]"
_ABSOLUTE_PATH = re.compile(rf"(?<![\w.~/])(?:/{_PATH_CHARS}+){{2,}}/?")
_SCHEMA_SUFFIXES = (".yaml", ".yml", ".json")


def file_role(relative: PurePosixPath) -> str:
    """What a file under the data directory is, as a client knows it."""
    parts = relative.parts
    area = "/".join(parts[:2]) if parts[:1] == ("private",) else (parts[0] if parts else "")
    name = relative.name.lower()
    if area == "private/tmp":
        return "the schema file" if name.startswith("schema") else "the uploaded file"
    if area == "private/blobs":
        if name.endswith(_SCHEMA_SUFFIXES):
            return "the source's schema file"
        return "the source images" if name.endswith(".npz") else "the source table"
    if area == "private/sources":
        return "the source images"
    if area == "private/runs":
        return "the job's private run directory"
    if area == "private/reports":
        return "the job's report"
    if area == "models":
        return "the job's model"
    if area == "releases":
        return "the release file"
    return "a file of the service"


def redact_paths(text: str, data_dir: Path | str | None = None) -> str:
    """``text`` with every path under ``data_dir`` replaced by its role (``file_role``)
    and any other absolute path of two or more levels by "a server path"."""
    if data_dir is not None:
        root = str(data_dir).rstrip("/")
        pattern = re.compile(re.escape(root) + rf"(/{_PATH_CHARS}*)?")

        def role(match: re.Match[str]) -> str:
            rest = (match.group(1) or "").strip("/")
            return file_role(PurePosixPath(rest)) if rest else "the data directory"

        text = pattern.sub(role, text)
    return _ABSOLUTE_PATH.sub(
        lambda m: m.group(0) if m.group(0).startswith(("/v1/", "http")) else "a server path",
        text,
    )
