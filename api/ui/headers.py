"""Security headers on every console response (``/ui``).

- CSP: scripts, styles and frames from this origin only, no inline script, forms post
  only here, and no framing of the console by any site (``frame-ancestors 'none'``, and
  ``X-Frame-Options: DENY`` for older browsers).
- ``Cache-Control: no-store`` on everything but the static files: the pages show private
  objects, and a shared or back-button cache must not keep them.
A response that sets its own CSP (the embedded report) keeps it.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/ui"
STATIC = "/ui/static/"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
COMMON = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
}


class ConsoleHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(STATIC)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                wanted = dict(COMMON)
                wanted[b"content-security-policy"] = CSP.encode()
                wanted[b"x-frame-options"] = b"DENY"
                if not static:
                    wanted[b"cache-control"] = b"no-store"
                    wanted[b"pragma"] = b"no-cache"
                for key, value in wanted.items():
                    if key not in present:
                        headers.append((key, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
