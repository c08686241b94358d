"""`logs:actions:<guid_action>` records, written after the response has been sent.

The middleware opens an ActionRecord for every request and echoes its id as
`X-Action-Id`; endpoints name the action (`Action("open_ticket")`) and fill in the
actor, ticket and params. When the response is done the record goes to Redis with a
TTL. Redis being down costs the record, never the request. A request queued with
`Prefer: respond-async` gets its final record from the worker (actions/tasks.py).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from fastapi import Request
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticket_service.ops.metrics import REDIS_ERRORS

log = structlog.get_logger(__name__)

KEY_PREFIX = "logs:actions:"
# Never logged, whatever a client sends: credentials and one-time codes.
SECRET_PARAMS = frozenset({"access_token", "refresh_token", "code", "state", "token", "password"})


def action_key(guid_action: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}{guid_action}"


@dataclass
class ActionRecord:
    guid_action: uuid.UUID
    request_id: str
    started_at: datetime
    started: float
    type: str | None = None
    actor: str | None = None
    guid_ticket: uuid.UUID | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Accepted for the worker (202): its record must not overwrite the worker's outcome.
    queued: bool = False
    # Answered from a stored response (Idempotency-Key): the action it repeats.
    replay_of: uuid.UUID | None = None

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = {k: v for k, v in params.items() if k not in SECRET_PARAMS}

    def document(self, status_code: int, error: str | None) -> dict[str, Any]:
        finished_at = datetime.now(UTC)
        replay = {"replay_of": str(self.replay_of)} if self.replay_of else {}
        return {
            **replay,
            "guid_action": str(self.guid_action),
            "type": self.type,
            "actor": self.actor,
            "guid_ticket": str(self.guid_ticket) if self.guid_ticket else None,
            "params": self.params,
            "outcome": "success" if status_code < 400 else "error",
            "status_code": status_code,
            "error": error,
            "started_at": self.started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
            "request_id": self.request_id,
        }


def body_params(body: dict[str, Any]) -> dict[str, Any]:
    """A request body as action-log params: without the ticket text and unset fields."""
    return {k: v for k, v in body.items() if k != "text" and v is not None}


def current_action(request: Request) -> ActionRecord:
    record: ActionRecord = request.state.action
    return record


class Action:
    """Dependency naming the request's action.

    `record: Annotated[ActionRecord, Depends(Action("open_ticket"))]`"""

    def __init__(self, type_: str) -> None:
        self.type = type_

    async def __call__(self, request: Request) -> ActionRecord:
        record = current_action(request)
        record.type = self.type
        return record


class ActionLogMiddleware:
    """Pure ASGI middleware: opens the record, adds `X-Action-Id`, writes the record last."""

    def __init__(self, app: ASGIApp, ttl_seconds: int) -> None:
        self.app = app
        self.ttl_seconds = ttl_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        request_id = _clean_request_id(headers.get(b"x-request-id", b"")) or uuid.uuid4().hex
        record = ActionRecord(
            guid_action=uuid.uuid4(),
            request_id=request_id,
            started_at=datetime.now(UTC),
            started=time.perf_counter(),
        )
        scope.setdefault("state", {})["action"] = record
        status_code = 500
        error_body = bytearray()

        async def send_with_ids(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-action-id", str(record.guid_action).encode()),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            elif message["type"] == "http.response.body" and status_code >= 400:
                error_body.extend(message.get("body", b"")[:4096])
            await send(message)

        structlog.contextvars.bind_contextvars(
            request_id=request_id, guid_action=str(record.guid_action)
        )
        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            route = scope.get("route")
            error = _error_code(error_body)
            log.info(
                "request",
                method=scope["method"],
                route=getattr(route, "path", None),
                status=status_code,
                error=error,
                action=record.type,
                actor=record.actor,
                duration_ms=round((time.perf_counter() - record.started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id", "guid_action")
            if record.type is not None:
                redis: aioredis.Redis = scope["app"].state.redis
                await write_record(
                    redis,
                    record,
                    status_code,
                    error,
                    self.ttl_seconds,
                    only_if_absent=record.queued,
                )


def _clean_request_id(raw: bytes) -> str:
    """A caller's X-Request-ID, if it is a plain token: it is echoed in a header and logged."""
    value = raw.decode("latin-1")[:128]
    return value if value and all(c.isalnum() or c in "-_.:" for c in value) else ""


def _error_code(body: bytes | bytearray) -> str | None:
    if not body:
        return None
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "error"


async def write_record(
    redis: aioredis.Redis,
    record: ActionRecord,
    status_code: int,
    error: str | None,
    ttl: int,
    *,
    only_if_absent: bool = False,
) -> None:
    document = record.document(status_code, error)
    key, value = action_key(record.guid_action), json.dumps(document, default=str)
    try:
        await redis.set(key, value, ex=ttl, nx=only_if_absent)
    except (RedisError, OSError) as exc:
        REDIS_ERRORS.labels("action_log_write").inc()
        log.warning("action_log_skipped", guid_action=str(record.guid_action), error=repr(exc))
