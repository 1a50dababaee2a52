"""The web console: server-rendered pages under ``/ui`` on the API's app, for each role.

``install(app)`` adds the pages, their static files, the session store and the security
headers. Pages call the same ``pipelines`` functions as the JSON routes (``api/routes``).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.ui import admin, audit, auth, releases, sources
from api.ui.core import HERE
from api.ui.headers import ConsoleHeaders
from api.ui.sessions import SessionStore


def install(app: FastAPI, *, sessions: SessionStore | None = None) -> None:
    app.state.console_sessions = sessions or SessionStore()
    for module in (auth, sources, releases, audit, admin):
        app.include_router(module.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_middleware(ConsoleHeaders)
