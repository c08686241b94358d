"""Friendly error pages for browsers; the API keeps its JSON errors.

A response is a page when the request is not for the API (`/api`, health, metrics, docs)
and either a web route answered it or the browser asked for HTML. A page never shows a
traceback or the domain's English message: a title and a hint in the person's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ticket_service.errors import AppError
from ticket_service.web import i18n
from ticket_service.web.pages import LoginRequired, Page, login_url
from ticket_service.web.security import CSRF_COOKIE, LANG_COOKIE, new_csrf_secret, safe_next

log = structlog.get_logger(__name__)

NOT_PAGES = ("/api/", "/health/", "/metrics", "/docs", "/redoc", "/openapi.json")
Handler = Callable[[Request, Exception], Awaitable[Response]]


def wants_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(NOT_PAGES) or path == "/api":
        return False
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    if endpoint is not None and endpoint.__module__.startswith("ticket_service.web"):
        return True
    return "text/html" in request.headers.get("accept", "")


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Which form field is wrong and how, as a code the templates say in the person's
    language (macro `field_error` in _forms.html)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        kind = error["type"]
        message = str(error.get("msg", ""))
        if kind == "missing" or "blank" in message or kind == "string_too_short":
            code = "required"
        elif kind == "string_too_long" or kind == "too_long":
            code = "too_long"
        elif kind in ("enum", "literal_error", "string_pattern_mismatch"):
            code = "choice"
        elif "one line" in message:
            code = "one_line"
        else:
            code = "invalid"
        errors.setdefault(field, code)
    return errors


def _page(request: Request) -> Page:
    current = getattr(request.state, "page", None)
    if isinstance(current, Page):
        return current
    settings = request.app.state.settings
    secret = request.cookies.get(CSRF_COOKIE)
    return Page(
        request=request,
        settings=settings,
        locale=i18n.negotiate(
            request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
        ),
        zone=i18n.time_zone(None, settings.web_time_zone),
        csrf_secret=secret or new_csrf_secret(),
        new_csrf=not secret,
    )


def error_page(request: Request, status_code: int, code: str) -> Response:
    return _page(request).render(
        "error.html", status_code=status_code, status=status_code, code=code
    )


def _back_after_login(request: Request) -> str:
    if request.method == "GET":
        return _page(request).here()
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc:
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return "/"


def install_error_pages(app: FastAPI) -> None:
    """Wrap the API's handlers: pages for browsers, the same JSON for everybody else."""
    api_app_error = cast(Handler, app.exception_handlers[AppError])
    api_http_error = cast(Handler, app.exception_handlers[StarletteHTTPException])
    api_validation = cast(Handler, app.exception_handlers[RequestValidationError])

    async def app_error(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await api_app_error(request, exc)
        error = cast(AppError, exc)
        if isinstance(error, LoginRequired):
            page = _page(request)
            if request.headers.get("hx-request") == "true":
                # A poll of a part of the page: a redirect would be followed by the browser's
                # request and the sign-in page swapped into the part. htmx sends the whole
                # page to sign in instead, and back to the page afterwards.
                current = urlsplit(request.headers.get("hx-current-url", ""))
                back = safe_next(current.path + (f"?{current.query}" if current.query else ""))
                response = Response(status_code=204, headers={"HX-Redirect": login_url(back)})
                return page.finish(response)
            return page.redirect(login_url(_back_after_login(request)))
        return error_page(request, error.status_code, error.code)

    async def http_error(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await api_http_error(request, exc)
        status = cast(StarletteHTTPException, exc).status_code
        return error_page(request, status, "not_found" if status == 404 else "http_error")

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not wants_page(request):
            return await api_validation(request, exc)
        # A malformed address (a ticket id that is no id, an unknown filter): nothing there.
        return error_page(request, 404, "not_found")

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette logs the exception and its traceback itself; the person gets a page.
        if not wants_page(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        try:
            return error_page(request, 500, "server_error")
        except Exception:  # the page itself failed: never a traceback
            log.exception("error_page_failed")
            return PlainTextResponse("Internal Server Error", status_code=500)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
