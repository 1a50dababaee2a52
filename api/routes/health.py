"""Liveness and readiness (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.schemas import Health, Ready
from pipelines.store.migrate import is_up_to_date

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready}})
def ready(services: ServicesDep) -> Ready | JSONResponse:
    """The store answers and is migrated, and jobs can reach workers."""
    database = migrations = executor = "ok"
    try:
        services.db.ping()
        if not is_up_to_date(services.db):
            migrations = "behind"
    except Exception as exc:
        database = f"unavailable ({type(exc).__name__})"
        migrations = "unknown"
    try:
        services.dispatcher.check()
    except Exception as exc:
        executor = f"unavailable ({type(exc).__name__})"
    body = Ready(
        status="ok" if database == migrations == executor == "ok" else "unavailable",
        database=database,
        migrations=migrations,
        executor=executor,
    )
    if body.status != "ok":
        return JSONResponse(body.model_dump(), status_code=503)
    return body
