"""Browser-side protections of the web UI: cookies, CSRF tokens, safe redirects.

CSRF: a signed double-submit token. The browser holds a random `csrf` cookie (HttpOnly,
SameSite=Lax); every form carries HMAC(SECRET_KEY, cookie) and a state-changing request
must send it back (form field `csrf_token` or header `X-CSRF-Token`). Another site can
neither read the cookie nor compute the HMAC, so it cannot forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from ticket_service.config import Settings
from ticket_service.errors import Forbidden

SESSION_COOKIE = "ts_session"
CSRF_COOKIE = "ts_csrf"
OAUTH_COOKIE = "ts_oauth"  # the sign-in in progress: state and where to land afterwards
LANG_COOKIE = "ts_lang"
TZ_COOKIE = "ts_tz"  # set by static/app.js from the browser's Intl time zone
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfRefused(Forbidden):
    code = "csrf_failed"
    message = "The form is out of date or did not come from this site; reload and try again"


def new_csrf_secret() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(settings: Settings, secret: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"csrf:" + secret.encode(), hashlib.sha256).hexdigest()


def check_csrf(settings: Settings, secret: str | None, sent: str | None) -> None:
    if not secret or not sent or not hmac.compare_digest(csrf_token(settings, secret), sent):
        raise CsrfRefused()


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: `/tickets/1?x=y`, never `//evil`, `https://evil`, `/\\evil`."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n\t\\"):
        return default
    return target


def cookie_options(settings: Settings) -> dict[str, object]:
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": settings.environment == "production",
        "path": "/",
    }
