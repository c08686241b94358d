"""Replay an API request whose database transaction failed transiently and was undone.

A serialization failure or deadlock (PostgreSQL rolled the transaction back), or a pooled
connection found dead before COMMIT was sent (the transaction died with it), leaves no
trace of the attempt: running the request again from the start is safe, whatever its
method. The DB error handlers (errors.py) decide that and mark the request; this
middleware, the innermost one, acts on the mark: it swallows that attempt's 503, waits a
few jittered milliseconds and runs the app again with the same body, at most
DB_RETRY_ATTEMPTS times in all. Everything else (other statuses, a 503 not marked, the
last attempt) goes to the client untouched, so the final failure is the usual 503 with
Retry-After.

Outer middlewares see one request: one rate-limit hit, one action-log record, one
metrics sample. Whatever a request does outside its transaction must therefore bear a
replay; the only such requests, the Discord sign-in (`/api/discord/*`: an authorization
code works once at Discord) and Discord's interactions (`/api/discord/interactions`: the
interaction id is spent in Redis, Discord waits 3 s), are never replayed.
"""

from __future__ import annotations

import asyncio
import random

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticket_service.errors import DB_COMMIT, DB_REPLAY
from ticket_service.ops.metrics import DB_RETRIES

log = structlog.get_logger(__name__)

# Requests with effects outside the database transaction, which a replay would repeat.
NEVER_REPLAYED_PREFIXES = ("/api/discord/",)
BACKOFF_SECONDS = 0.02


def replayable_path(path: str) -> bool:
    return not path.startswith(NEVER_REPLAYED_PREFIXES)


def backoff_seconds(failed_attempts: int) -> float:
    """About 20 ms, then 40 ms, ...: long enough for a competing transaction to finish,
    jittered so that two requests that collided do not collide again in lockstep."""
    delay: float = BACKOFF_SECONDS * 2 ** (failed_attempts - 1)
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not cryptography


class _RecordedBody:
    """The request body as the app reads it, kept to be read again by a replay. Inside
    the edge's body limit (ops/edge.py), so at most MAX_BODY_BYTES are kept."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._messages: list[Message] = []
        self.disconnected = False

    def reader(self) -> Receive:
        position = 0

        async def receive() -> Message:
            nonlocal position
            if position < len(self._messages):
                position += 1
                return self._messages[position - 1]
            message = await self._receive()
            if message["type"] == "http.request":
                self._messages.append(message)
                position += 1
            else:  # http.disconnect: nobody is left to answer
                self.disconnected = True
            return message

        return receive


class DbRetryMiddleware:
    """Pure ASGI middleware: up to `attempts` runs of a request whose transaction failed
    transiently (see the module docstring); `attempts` = 1 turns it off."""

    def __init__(self, app: ASGIApp, attempts: int) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.attempts <= 1 or not replayable_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        body = _RecordedBody(receive)
        for attempt in range(1, self.attempts + 1):
            reason = await self._attempt(scope, body, send, last=attempt == self.attempts)
            if reason is None:
                return
            DB_RETRIES.labels("retried").inc()
            log.info("db_retry", attempt=attempt, reason=reason, path=scope["path"])
            await asyncio.sleep(backoff_seconds(attempt))

    async def _attempt(
        self, scope: Scope, body: _RecordedBody, send: Send, *, last: bool
    ) -> str | None:
        """Run the app once; the replay reason when its answer was swallowed for a replay."""
        state = scope.setdefault("state", {})
        # Marks of an earlier attempt must not speak for this one.
        state.pop(DB_REPLAY, None)
        state.pop(DB_COMMIT, None)
        swallowed: str | None = None

        async def send_or_swallow(message: Message) -> None:
            nonlocal swallowed
            if message["type"] == "http.response.start":
                reason = state.get(DB_REPLAY) if message["status"] == 503 else None
                if reason is not None and last:
                    DB_RETRIES.labels("exhausted").inc()
                elif reason is not None and not body.disconnected:
                    swallowed = str(reason)
            if swallowed is None:
                await send(message)

        await self.app(scope, body.reader(), send_or_swallow)
        return swallowed
