"""How errors become responses: one HTTP status per error class, a JSON body with a
readable ``detail``, and no data values anywhere (not in bodies, not in logs)."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import auditing
from api.limits import RejectKeyInURL
from pipelines.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
    redact_paths,
)
from synthgen.errors import (
    ConfigurationError,
    InputFileError,
    PrivacyBudgetExceeded,
    PrivacyParameterError,
    SchemaError,
    SchemaMismatch,
    SynthgenError,
)

log = logging.getLogger("synthgen.api")

try:  # FastAPI's request-body limit signals an answered 413 with this private exception
    from fastapi._body_limit import get_body_limit_error
except ImportError:  # pragma: no cover - another FastAPI version

    def get_body_limit_error(exc: Exception) -> Exception | None:
        return None


STATUS: tuple[tuple[type[SynthgenError], int], ...] = (
    (AuthenticationFailed, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (PrivacyBudgetExceeded, 409),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (InvalidRequest, 422),
    (ConfigurationError, 422),  # an option that does not apply to this modality
    (SchemaMismatch, 422),
    (SchemaError, 422),
    (InputFileError, 422),
    (PrivacyParameterError, 422),
    (RateLimited, 429),
    (Unavailable, 503),
)


def status_for(exc: SynthgenError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 400


async def synthgen_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SynthgenError)
    code = status_for(exc)
    # messages name files by their role; a path that slipped through is replaced here
    data_dir = request.app.state.services.settings.data_dir
    detail = redact_paths(str(exc).split("\n")[0], data_dir) or type(exc).__name__
    body: dict[str, object] = {"detail": detail, "error": type(exc).__name__}
    if isinstance(exc, SchemaMismatch):
        body["problems"] = [redact_paths(p, data_dir) for p in exc.problems]
    headers: dict[str, str] = {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    # refusals go to the audit log; a run of 429s on one bucket once (a flood stays small)
    if code in auditing.REFUSALS and (not isinstance(exc, RateLimited) or exc.first):
        await auditing.record_refusal(request, code, type(exc).__name__, detail)
    return JSONResponse(body, status_code=code, headers=headers or None)


class RedactedErrors:
    """Answer unexpected exceptions with a bare 500 and log their traceback frames without
    the exception's message (it may quote a data value). Starlette's own error handler
    would re-raise the exception for the server to log in full."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started and get_body_limit_error(exc) is not None:
                return  # Starlette has answered 413 already; this only unwinds the request
            frames = traceback.extract_tb(exc.__traceback__)
            where = "\n".join(
                f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames
            )
            log.error(
                "%s %s failed with %s (message withheld)\n%s",
                scope.get("method"),
                scope.get("path"),
                type(exc).__name__,
                where,
            )
            if started:
                return  # the response is cut short; the server closes the connection
            response = JSONResponse(
                {"detail": "internal error", "error": "InternalError"}, status_code=500
            )
            await response(scope, receive, send)


async def data_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """The store refused a value (PostgreSQL: a NUL character, a number out of range)."""
    return JSONResponse(
        {
            "detail": f"a value in the request cannot be stored ({type(exc).__name__})",
            "error": "InvalidValue",
        },
        status_code=422,
    )


class RejectNulInURL:
    """NUL characters in a path or query string: 400 before any route runs (PostgreSQL
    cannot even compare text containing NUL)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = (
                (scope.get("raw_path") or scope.get("path", "").encode())
                + b"?"
                + scope.get("query_string", b"")
            )
            if b"\x00" in raw or b"%00" in raw:
                response = JSONResponse(
                    {"detail": "NUL characters are not allowed in URLs", "error": "InvalidURL"},
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(SynthgenError, synthgen_error_handler)
    app.add_exception_handler(DataError, data_error_handler)
    app.add_middleware(RejectNulInURL)
    app.add_middleware(RedactedErrors)
    app.add_middleware(RejectKeyInURL)  # outermost: the key is gone before anything else runs
