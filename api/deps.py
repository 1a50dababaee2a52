"""Dependencies: what a route declares in its signature to get the store, a session, the
settings or the current user. Everything comes from ``app.state.services``, built by
``create_app``; tests build an app on their own settings (or override these)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.limits import RateLimiter, RedisRateLimiter, enforce
from pipelines.artifacts import ArtifactStore
from pipelines.auth import Actor, authenticate, hash_key
from pipelines.dispatch import Dispatcher
from pipelines.errors import AuthenticationFailed, Forbidden
from pipelines.services import Services
from pipelines.settings import Settings
from pipelines.store import Database
from pipelines.store.models import Role


# Dependencies that do no I/O are ``async def``: FastAPI runs sync dependencies in its
# thread pool, one hop each, which costs more than they do.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_db(services: ServicesDep) -> Database:
    return services.db


async def get_store(services: ServicesDep) -> ArtifactStore:
    return services.store


async def get_dispatcher(services: ServicesDep) -> Dispatcher:
    return services.dispatcher


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="APIKey",
    description="An API key from `synthgen users create NAME --role ROLE`.",
)


def get_rate_limiter(request: Request) -> RateLimiter | RedisRateLimiter:
    limiter: RateLimiter | RedisRateLimiter = request.app.state.rate_limiter
    return limiter


def get_actor(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The user behind the request's key, within the key's requests per minute. Requests
    without a valid key share one bucket per client address, so trying many keys is
    limited too (and so is what their 401s add to the audit log)."""
    limiter = get_rate_limiter(request)
    key = credentials.credentials if credentials else None
    try:
        with db.session() as session:  # a short session of its own: the route may need a writer
            actor = authenticate(session, key)
    except AuthenticationFailed:
        address = request.client.host if request.client else "unknown"
        refused = f"more than {limiter.per_minute} requests per minute without a valid key"
        enforce(limiter, f"address:{address}", f"{refused} from this address")
        raise
    request.state.actor = actor  # for the audit log's record of a refusal
    assert key is not None
    refused = f"more than {limiter.per_minute} requests per minute with this key"
    enforce(limiter, f"key:{hash_key(key)}", refused)
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require(*roles: Role) -> Callable[[Actor], Awaitable[Actor]]:
    allowed = ", ".join(roles)

    async def check(actor: CurrentActor) -> Actor:
        if actor.role not in roles:
            raise Forbidden(f"this needs the role {allowed}; your key is for {actor.role}")
        return actor

    return check


StewardActor = Annotated[Actor, Depends(require(Role.steward))]
MLEngineerActor = Annotated[Actor, Depends(require(Role.ml_engineer))]
AdminActor = Annotated[Actor, Depends(require(Role.admin))]
AuditReader = Annotated[Actor, Depends(require(Role.auditor, Role.admin))]
SourceReader = Annotated[Actor, Depends(require(Role.steward, Role.auditor))]
ReleaseReader = Annotated[Actor, Depends(require(Role.steward, Role.auditor, Role.ml_engineer))]
ReportReader = Annotated[Actor, Depends(require(Role.steward, Role.auditor))]
