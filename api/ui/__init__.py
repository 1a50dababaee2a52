"""The web console: server-rendered pages under ``/ui`` on the API's app, for each role.

``install(app)`` adds the pages, their static files, the session store and the security
headers. Pages call the same ``pipelines`` functions as the JSON routes (``api/routes``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.ui import admin, audit, auth, jobs, releases, schema, sources
from api.ui.core import HERE
from api.ui.headers import ConsoleHeaders
from api.ui.redis_sessions import RedisSessionStore
from api.ui.sessions import SessionStore


def install(app: FastAPI, *, sessions: SessionStore | RedisSessionStore | None = None) -> None:
    if sessions is None:
        url = app.state.services.settings.rate_limit_url
        sessions = RedisSessionStore(url) if url else SessionStore()
    app.state.console_sessions = sessions
    for module in (auth, sources, schema, jobs, releases, audit, admin):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleHeaders)
