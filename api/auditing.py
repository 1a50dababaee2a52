"""What the API adds to the audit log beside the actions themselves: refusals (401, 403,
409, 429) and reads of private objects. Both are written in a transaction of their own
(``audit.record_alone``): a refused request's transaction has rolled back, and a read has
none.

An event names the action the request attempted (the same names as the actions recorded
when they succeed: ``job.create``, ``release.download``...), its object (from the path, or
what the route noted in ``request.state.audit_object``), the actor (``unknown`` before a
key was accepted: the presented key is never recorded) and the outcome.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pipelines import audit
from pipelines.auth import Actor
from pipelines.services import Services
from pipelines.store.db import Database

# route endpoint -> the audit action it performs
ACTIONS = {
    "upload_source": "source.upload",
    "list_sources": "source.list",
    "get_source": "source.read",
    "get_ledger": "ledger.read",
    "create_job": "job.create",
    "list_jobs": "job.list",
    "get_job": "job.read",
    "cancel_job": "job.cancel",
    "retry_job": "job.retry",
    "list_releases": "release.list",
    "get_release": "release.read",
    "approve_release": "release.approve",
    "reject_release": "release.reject",
    "download_data": "release.download",
    "get_certificate": "certificate.read",
    "get_report": "report.read",
    "request_samples": "release.sample",
    "list_events": "audit.read",
    "export_events": "audit.export",
    "get_schema_draft": "schema.read",
    "accept_schema": "schema.accept",
    "set_budget": "source.budget",
    "me": "me.read",
    "list_users": "user.list",
    "create_user": "user.create",
    "issue_key": "key.create",
    "revoke_user": "key.revoke",
    "change_role": "user.role",
}
# path parameter -> the type of object it names
PATH_OBJECTS = (
    ("source_id", "source"),
    ("job_id", "job"),
    ("release_id", "release"),
    ("name", "user"),
)
REFUSALS = (401, 403, 409, 429)


def note_object(request: Request, object_type: str, object_id: str) -> None:
    """For routes whose object is in the body (POST /v1/jobs names its source there)."""
    request.state.audit_object = (object_type, object_id)


def _action(request: Request) -> str:
    endpoint = request.scope.get("endpoint")
    name = getattr(endpoint, "__name__", "")
    if name in ACTIONS:
        return ACTIONS[name]
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"[:50]


def _object(request: Request) -> tuple[str | None, str | None]:
    noted = getattr(request.state, "audit_object", None)
    if noted is not None:
        return noted
    params = request.path_params
    for param, object_type in PATH_OBJECTS:
        value = params.get(param)
        if isinstance(value, str) and value:
            return object_type, value[:64]
    return None, None


async def record_refusal(request: Request, status: int, error: str, reason: str) -> None:
    services: Services = request.app.state.services
    actor: Actor | None = getattr(request.state, "actor", None) if status != 401 else None
    object_type, object_id = _object(request)
    route = request.scope.get("route")
    details: dict[str, Any] = {
        "status": status,
        "error": error,
        "reason": reason[:300],
        "request": f"{request.method} {getattr(route, 'path', '')}",
    }
    await run_in_threadpool(
        audit.record_alone,
        services.db,
        actor,
        _action(request),
        object_type,
        object_id,
        details,
        outcome=audit.REFUSED,
    )


def record_read(
    db: Database,
    actor: Actor,
    action: str,
    object_type: str | None,
    object_id: str | None,
    *,
    source_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """A private object was read (call it from a sync route, once the read succeeded)."""
    audit.record_alone(db, actor, action, object_type, object_id, details, source_id=source_id)
