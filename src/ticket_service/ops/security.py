"""Security headers on every response: no framing, no sniffing, no referrer; a CSP that
allows nothing on the API and only this site's own files on the web UI's pages."""

from __future__ import annotations

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000")
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


def security_headers(path: str, hsts: bool) -> list[tuple[bytes, bytes]]:
    """The headers every response to `path` carries (added by the edge layer, ops/edge.py).
    HSTS only behind HTTPS, i.e. in production."""
    headers = [*HEADERS, HSTS] if hsts else [*HEADERS]
    if path.startswith(API_PATHS):
        headers.append(API_CSP)
    elif not path.startswith(DOCS_PATHS):
        headers.append(WEB_CSP)
    return headers
