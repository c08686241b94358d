"""`logs:actions:<guid_action>` records, written after the response has been sent.

The edge layer (ops/edge.py) opens an ActionRecord for every request and echoes its id as
`X-Action-Id`; endpoints name the action (`Action("open_ticket")`) and fill in the
actor, ticket and params. When the response is done the record goes to Redis with a
TTL, batched with other requests' records (ActionLogWriter). Redis being down costs the
record, never the request. A request queued with `Prefer: respond-async` gets its final
record from the worker (actions/tasks.py, `write_record`).
"""

from __future__ import annotations

import asyncio
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


class ActionLogWriter:
    """Writes the records of finished requests to Redis in batches (group commit): the
    first record starts a pipeline; records that finish while it is in flight wait and go
    together in the next one. Idle, a record goes at once; under load one round trip
    carries many. A request's task awaits its own record (after its response has gone
    out), so a record is in Redis by the time the request's handling ends and none is
    left behind in memory when the process stops."""

    def __init__(self, redis: aioredis.Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds
        self._pending: list[tuple[str, str, bool, asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, record: ActionRecord, status_code: int, error: str | None) -> None:
        document = json.dumps(record.document(status_code, error), default=str)
        done = asyncio.get_running_loop().create_future()
        self._pending.append((action_key(record.guid_action), document, record.queued, done))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._send(batch)
                except (RedisError, OSError) as exc:
                    REDIS_ERRORS.labels("action_log_write").inc(len(batch))
                    log.warning("action_log_skipped", records=len(batch), error=repr(exc))
                finally:
                    for *_, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._draining = None

    async def _send(self, batch: list[tuple[str, str, bool, asyncio.Future[None]]]) -> None:
        # A record accepted for the worker (only_if_absent) must not overwrite its outcome.
        if len(batch) == 1:  # idle: a pipeline would only add its own bookkeeping
            key, document, only_if_absent, _ = batch[0]
            await self.redis.set(key, document, ex=self.ttl_seconds, nx=only_if_absent)
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, document, only_if_absent, _ in batch:
                pipe.set(key, document, ex=self.ttl_seconds, nx=only_if_absent)
            await pipe.execute()


def request_id_from(raw: bytes) -> str:
    """A caller's X-Request-ID, if it is a plain token: it is echoed in a header and logged."""
    value = raw.decode("latin-1")[:128]
    return value if value and all(c.isalnum() or c in "-_.:" for c in value) else ""


def error_code(body: bytes | bytearray) -> str | None:
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
