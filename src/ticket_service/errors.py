"""One error base class and one handler: every error is `{"error": {code, message, details}}`."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


class AppError(Exception):
    """An expected failure, with its HTTP status and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"
    message = "Bad request"
    headers: dict[str, str] | None = None
    # An error whose side effects must still stand (e.g. revoking a leaked token family).
    keeps_changes = False

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: Any = None
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.details = details
        super().__init__(self.message)


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication required"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "A dependency is unavailable, try again shortly"
    headers = {"Retry-After": "5"}


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The shape of every error response."""

    error: ErrorBody


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status_code,
        headers=headers,
    )


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry documenting the error shape for each status."""
    descriptions = {
        400: "Bad request (invalid status, transition or cursor)",
        401: "Missing, invalid or expired token",
        403: "Not allowed",
        404: "Not found or not visible to the caller",
        409: "Version conflict",
        413: "Body over the size limit",
        422: "Payload validation failed",
        503: "A dependency (Discord, PostgreSQL) is unavailable",
    }
    return {s: {"model": ErrorResponse, "description": descriptions[s]} for s in statuses}


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Keep what helps a client fix its request; drop echoed input (it may be 64 KiB).
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    exc = cast(AppError, exc)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    exc = cast(RequestValidationError, exc)
    return error_response(422, "validation_error", "Invalid request", _validation_details(exc))


# What FastAPI raises (as a 400) when a body is not decodable at all, e.g. invalid UTF-8.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, exc)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        # Malformed payloads are 422, whether the JSON or its encoding is broken.
        return error_response(422, "validation_error", "The request body is not valid JSON")
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status_code, "http_error"
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = allowed
    return error_response(exc.status_code, code, str(exc.detail), None, headers)


def _allowed_methods(request: Request) -> str:
    # The router's Allow names only the first route on the path; RFC 9110 (15.5.6) asks for
    # every method of the resource, e.g. `GET, POST` on /api/tickets/open.
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    unavailable = ServiceUnavailable("The database is unavailable, try again shortly")
    return error_response(
        503, "database_unavailable", unavailable.message, None, unavailable.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    # Every pooled connection busy for pool_timeout: overloaded, not broken. 503, retry.
    app.add_exception_handler(PoolTimeout, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_unavailable_or_raise)


async def _database_unavailable_or_raise(request: Request, exc: Exception) -> JSONResponse:
    # Connection-level failures (server gone, pool timeout) are 503; anything else is a bug.
    if cast(DBAPIError, exc).connection_invalidated:
        return await _database_unavailable(request, exc)
    raise exc
