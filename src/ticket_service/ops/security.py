"""Security headers on every response: no framing, no sniffing, no referrer; a CSP that
allows nothing on the API and only this site's own files on the web UI's pages."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Swagger UI and ReDoc load their scripts from a CDN; everything else is JSON.
API_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
API_PATHS = ("/api", "/health", "/metrics", "/openapi.json")
# The web UI's pages: scripts and styles from /static only (no inline code), Discord avatars.
WEB_CSP = (
    b"content-security-policy",
    b"default-src 'self'; script-src 'self'; style-src 'self'; "
    b"img-src 'self' https://cdn.discordapp.com; frame-ancestors 'none'; form-action 'self'; "
    b"base-uri 'none'; object-src 'none'",
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        self.extra = [*HEADERS]
        if hsts:  # only behind HTTPS, i.e. in production
            self.extra.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.extra
        path = str(scope.get("path", ""))
        if path.startswith(API_PATHS):
            headers = [*headers, API_CSP]
        elif not path.startswith(DOCS_PATHS):
            headers = [*headers, WEB_CSP]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
