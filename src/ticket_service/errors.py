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
from starlette.requests import ClientDisconnect
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


class Unprocessable(AppError):
    """Well-formed input the service refuses on a rule of its own (e.g. a URL it will not
    call); rendered like a payload validation error, with the reason in `details`."""

    status_code = 422
    code = "validation_error"
    message = "Invalid request"


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


def _integer_header(description: str, minimum: int) -> dict[str, Any]:
    return {
        "description": description,
        "required": True,
        "schema": {"type": "integer", "minimum": minimum},
    }


# What ops/rate_limit.py answers when a budget is spent. Every route documented through
# `responses()` is rate limited; the exempt ones (/health/*, /metrics, docs) do not use it.
RATE_LIMITED: dict[str, Any] = {
    "model": ErrorResponse,
    "description": "Rate limit spent (`rate_limited`): per token, per client IP without one, "
    "per client IP on sign-in or for failed authentications",
    "headers": {
        "Retry-After": _integer_header("Seconds until the budget is renewed", 1),
        "RateLimit-Limit": _integer_header("Requests allowed in the window", 1),
        "RateLimit-Remaining": _integer_header("Requests left in the window: 0", 0),
        "RateLimit-Reset": _integer_header("Seconds until the window ends", 0),
    },
}


# What every route may answer when the service is busy (ops/admission.py) or, for most, when
# PostgreSQL is unreachable.
BUSY_OR_UNAVAILABLE: dict[str, Any] = {
    "model": ErrorResponse,
    "description": "The service is busy (`overloaded`: no turn within "
    "ADMISSION_TIMEOUT_SECONDS), or a dependency (Discord, PostgreSQL) is unavailable",
    "headers": {"Retry-After": _integer_header("Seconds to wait before retrying", 1)},
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entry documenting the error shape for each status, 429 and 503."""
    descriptions = {
        400: "Bad request (invalid status, transition or cursor)",
        401: "Missing, invalid or expired token",
        403: "Not allowed",
        404: "Not found or not visible to the caller",
        409: "Version conflict",
        413: "Body over the size limit",
        422: "Payload validation failed",
    }
    documented: dict[int | str, dict[str, Any]] = {
        s: {"model": ErrorResponse, "description": descriptions[s]} for s in statuses if s != 503
    }
    return {**documented, 429: RATE_LIMITED, 503: BUSY_OR_UNAVAILABLE}


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
        if isinstance(exc.__cause__, ClientDisconnect):
            # The client hung up before its body arrived: nobody reads this answer, and
            # logs and metrics must not count it as a client sending bad JSON (nginx's 499).
            return error_response(499, "client_closed_request", "The client went away")
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


# --- database errors -----------------------------------------------------------------------
# A request whose transaction failed transiently may be replayed from scratch by
# ops/db_retry.py. The handler below decides, the middleware acts; they talk through the
# request scope's "state" (request.state), as db.get_session does about COMMIT.

# PostgreSQL reports it rolled the whole transaction back (serialization_failure,
# deadlock_detected): nothing of the attempt stands, whatever it wrote and whenever it failed.
ROLLED_BACK_SQLSTATES = frozenset({"40001", "40P01"})
DB_REPLAY = "db_replay"  # why the attempt may be replayed; absent = it may not
DB_COMMIT = "db_commit"  # set by get_session: COMMIT_SENT, then COMMIT_DONE
COMMIT_SENT = "sent"
COMMIT_DONE = "done"


def replay_reason(exc: BaseException, commit: object) -> str | None:
    """Why a request that failed with `exc` may be replayed, or None when it may not.

    A connection that broke (terminated, reset) before COMMIT was sent took its uncommitted
    transaction with it. Once COMMIT is in flight its outcome is unknown, and only an
    explicit rollback from the server (the SQLSTATEs above) makes a replay safe. A failed
    connect or a pool timeout is the server down or overloaded: replaying in a few
    milliseconds would only make the 503 slower.
    """
    if not isinstance(exc, DBAPIError):
        return None
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in ROLLED_BACK_SQLSTATES:
        # After a successful COMMIT the request's writes stand: never run them twice.
        return None if commit == COMMIT_DONE else str(sqlstate)
    if exc.connection_invalidated and commit is None:
        return "connection_lost"
    return None


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    state = request.scope.setdefault("state", {})
    reason = replay_reason(exc, state.get(DB_COMMIT))
    if reason is not None:
        state[DB_REPLAY] = reason
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
