"""`@idempotent`: one line on a route makes it honour `Idempotency-Key`.

    @router.post("/things", status_code=201)
    @idempotent
    async def create_thing(...) -> ThingOut: ...

Without the header nothing happens (no database round trip). With it, in the request's
own transaction: the key is claimed (a concurrent duplicate waits on the primary key
until the first commits, bounded by IDEMPOTENCY_WAIT_SECONDS, else 409
`idempotency_in_progress`), the endpoint runs, and its response is rendered here and
stored before the transaction commits, so what is stored is exactly what is sent. A
failed request (an error, 4xx or 5xx) rolls back and leaves the key free for a retry.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.auth.dependencies import CurrentUser
from ticket_service.config import Settings
from ticket_service.db import Session
from ticket_service.errors import BadRequest, Conflict, ErrorResponse, Unprocessable
from ticket_service.idempotency import repository
from ticket_service.ops.action_log import current_action
from ticket_service.users.models import User

KEY_MAX = 255
LOCK_NOT_AVAILABLE = "55P03"
REPLAYED_HEADER = "Idempotent-Replayed"


class InvalidIdempotencyKey(BadRequest):
    code = "invalid_idempotency_key"
    message = f"Idempotency-Key must be 1..{KEY_MAX} printable ASCII characters"


class IdempotencyKeyReused(Unprocessable):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for another request; use a new key"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed; retry shortly"
    headers = {"Retry-After": "1"}


# OpenAPI `responses=` entries of an idempotent route.
IDEMPOTENCY_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorResponse,
        "description": "Conflict; `idempotency_in_progress`: the first request with this "
        "Idempotency-Key is still running (retry after `Retry-After`)",
    },
    422: {
        "model": ErrorResponse,
        "description": "Payload validation failed; `idempotency_key_reused`: the key was "
        "used with another request",
    },
}


@dataclass(slots=True)
class Claim:
    """This request holds the key: its response is stored before the commit."""

    user_id: int
    key: str
    session: AsyncSession

    async def store(self, response: Response) -> None:
        headers = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in response.raw_headers]
        await repository.store(
            self.session,
            self.user_id,
            self.key,
            response.status_code,
            headers,
            bytes(response.body),
        )


def _valid_key(value: str) -> str:
    if not 1 <= len(value) <= KEY_MAX or not all(" " <= c <= "~" for c in value):
        raise InvalidIdempotencyKey()
    return value


async def _fingerprint(request: Request) -> bytes:
    body = await request.body()
    try:
        # The same JSON, however spaced or ordered, is the same request.
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        body = canonical.encode()
    except ValueError:
        pass
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.digest()


def _replay(status_code: int, headers: list[list[str]], body: bytes) -> Response:
    response = Response(status_code=status_code)
    response.body = body
    response.raw_headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    response.raw_headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    return response


# The header, read as a parameter of the endpoint itself (`idempotent` adds it).
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        description="A key of yours (1..255 printable ASCII, e.g. a UUID): repeating "
        "the same request with it within 24 h answers the first response again "
        "(`Idempotent-Replayed: true`) instead of doing it twice",
    ),
]


async def _claim(
    request: Request, user: User, session: AsyncSession, idempotency_key: str | None
) -> Claim | Response | None:
    """None: no key. A Response: the stored answer to replay. A Claim: do the work."""
    if idempotency_key is None:
        return None
    key = _valid_key(idempotency_key)
    settings: Settings = request.app.state.settings
    action = current_action(request)
    fingerprint = await _fingerprint(request)
    # Bounded wait for a concurrent duplicate; the transaction's own setting is restored
    # afterwards so the work itself waits on its locks as it always does.
    previous = await repository.set_lock_timeout(
        session, f"{int(settings.idempotency_wait_seconds * 1000)}ms"
    )
    try:
        held = await repository.claim(
            session,
            user.id,
            key,
            fingerprint,
            action.guid_action,
            timedelta(hours=settings.idempotency_ttl_hours),
        )
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise IdempotencyInProgress() from None
        raise
    await repository.set_lock_timeout(session, previous)
    if held is None:
        return Claim(user.id, key, session)
    if held.fingerprint != fingerprint:
        raise IdempotencyKeyReused(details={"idempotency_key": key})
    action.replay_of = held.guid_action
    # A live row of another request always has its response (claim() takes over one without).
    return _replay(held.status_code or 500, held.headers or [], held.body or b"")


def _render(result: Any, sub_response: Response, request: Request) -> Response:
    """The response FastAPI would have sent for `result`, built here so it can be stored."""
    if isinstance(result, Response):
        return result
    route = request.scope.get("route")
    status_code = sub_response.status_code or getattr(route, "status_code", None) or 200
    if isinstance(result, BaseModel):
        body = result.model_dump_json().encode()
    else:
        body = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()
    response = Response(content=body, status_code=status_code, media_type="application/json")
    response.raw_headers.extend(sub_response.headers.raw)
    return response


E = TypeVar("E", bound=Callable[..., Awaitable[Any]])
_KEY = "idempotency_key__"
# What the claim needs, by annotation; the endpoint's own parameter when it has one (FastAPI
# hands one Request and one Response per call, to one name each), else one added here.
_NEEDS = {
    "request": Request,
    "response": Response,
    "user": CurrentUser,
    "session": Session,
}


def _matches(parameter: inspect.Parameter, annotation: Any) -> bool:
    if isinstance(annotation, type):
        return isinstance(parameter.annotation, type) and issubclass(
            parameter.annotation, annotation
        )
    return bool(parameter.annotation == annotation)


def idempotent(endpoint: E) -> E:
    """Make a POST endpoint honour `Idempotency-Key` (see the module's docstring). The key
    is the caller's (`CurrentUser`), claimed in the request's `Session`. The claim is made
    here before the endpoint runs, not by a dependency of its own: FastAPI would solve
    that dependency's own (the caller, the session) again for every request, cached or
    not: five more dependencies to solve for an open."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    signature = inspect.signature(endpoint)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    extra = [
        inspect.Parameter(
            _KEY, inspect.Parameter.KEYWORD_ONLY, annotation=IdempotencyKey, default=None
        )
    ]
    names: dict[str, str] = {}
    added: set[str] = set()
    for need, annotation in _NEEDS.items():
        own = next((p.name for p in parameters if _matches(p, annotation)), None)
        if own is None:
            own = f"idempotency_{need}__"
            added.add(own)
            extra.append(
                inspect.Parameter(own, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
            )
        names[need] = own

    @functools.wraps(endpoint)
    async def wrapper(**kwargs: Any) -> Any:
        key = kwargs.pop(_KEY)
        given = {need: kwargs[name] for need, name in names.items()}
        for name in added:
            del kwargs[name]
        claim = await _claim(given["request"], given["user"], given["session"], key)
        if isinstance(claim, Response):
            return claim
        result = await endpoint(**kwargs)
        if claim is None:
            return result
        response = _render(result, given["response"], given["request"])
        await claim.store(response)
        return response

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters + extra,
        return_annotation=hints.get("return", signature.return_annotation),
    )
    return typing.cast(E, wrapper)
