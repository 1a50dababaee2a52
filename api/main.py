"""The FastAPI application: ``create_app(settings)``.

Run with ``synthgen serve`` (which also starts a local worker), or under any ASGI server:
``uvicorn --factory api.main:create_app``. The app opens the store and upgrades its
schema when it is created. This process never imports torch, opacus or
great_expectations: heavy work runs in workers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api import errors, ui
from api.limits import make_rate_limiter
from api.routes import audit, audit_export, health, jobs, releases, source_review, sources, users
from pipelines.services import Services, open_services
from pipelines.settings import Settings
from synthgen import __version__

DESCRIPTION = """\
Differentially private synthetic data for medical tables and images.

Stewards upload sources with a privacy budget and request synthetic datasets; every job
reserves its epsilon in the source's ledger before any data is read. Stewards approve
releases after reading their reports; ML engineers download approved releases with their
DP certificates; auditors read reports, ledgers and the audit log.

Authenticate with `Authorization: Bearer KEY` (keys from `synthgen users create`).
"""


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    if services is None:
        services = open_services(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    app = FastAPI(
        title="synthgen",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=services.settings.max_request_bytes,
    )
    app.state.services = services
    app.state.rate_limiter = make_rate_limiter(
        services.settings.requests_per_minute, services.settings.rate_limit_url
    )
    errors.install(app)
    app.include_router(health.router)
    v1 = APIRouter(prefix="/v1")
    for module in (sources, source_review, jobs, releases, audit_export, audit, users):
        v1.include_router(module.router)
    app.include_router(v1)
    ui.install(app)
    return app
