"""The edge: one pure-ASGI layer that does, for every HTTP request, what used to take five
stacked middlewares (each wrapping `send` and adding a frame to every request):

1. opens the request's action record and request id (`X-Action-Id`, `X-Request-ID`),
   binds them to the log context;
2. adds the security headers (ops/security.py);
3. counts the request against its rate-limit budget (ops/rate_limit.py) → 429;
4. lets it in when its turn comes: at most DB_POOL_SIZE requests at once, first come, first
   served (ops/admission.py) → 503 after ADMISSION_TIMEOUT_SECONDS;
5. refuses a body over MAX_BODY_BYTES (ops/body_limit.py) → 413;
6. after the response: the metrics sample, one request log line, the action record
   (batched, ops/action_log.py) and, for a 401 to a token, the failed-authentication count.

Every answer passes through it, refusals too: a 429 or 413 has its action id, security
headers and metrics sample. Database replays (ops/db_retry.py) stay a separate, inner
layer: they run the app again, while all of the above happens once per request.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticket_service.config import Settings
from ticket_service.ops import admission, body_limit
from ticket_service.ops.action_log import (
    ActionLogWriter,
    ActionRecord,
    error_code,
    request_id_from,
)
from ticket_service.ops.logging import log_request
from ticket_service.ops.metrics import observe_request
from ticket_service.ops.rate_limit import RateLimiter
from ticket_service.ops.security import security_headers

# An error body is read for its `error.code` (the log line and the action record): its
# beginning is enough.
ERROR_BODY_BYTES = 4096


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.hsts = settings.environment == "production"
        self.limiter = RateLimiter(settings)
        self.gate = admission.FifoGate(settings.db_pool_size, settings.admission_timeout_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = request_id_from(headers.get(b"x-request-id", b"")) or uuid.uuid4().hex
        record = ActionRecord(
            guid_action=uuid.uuid4(),
            request_id=request_id,
            started_at=datetime.now(UTC),
            started=started,
        )
        scope.setdefault("state", {})["action"] = record
        extra = security_headers(scope["path"], self.hsts)
        extra.append((b"x-action-id", str(record.guid_action).encode()))
        extra.append((b"x-request-id", request_id.encode("latin-1")))
        status_code = 500  # an exception before the response started becomes a 500 outside
        error_body = bytearray()

        async def edge_send(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message["headers"] = [*message.get("headers", []), *extra]
            elif message["type"] == "http.response.body" and status_code >= 400:
                error_body.extend(message.get("body", b"")[: ERROR_BODY_BYTES - len(error_body)])
            await send(message)

        structlog.contextvars.bind_contextvars(
            request_id=request_id, guid_action=str(record.guid_action)
        )
        rule = None
        try:
            rule, verdict = await self.limiter.admit(scope)
            if verdict is not None and not verdict.allowed:
                await self.limiter.refusal(verdict)(scope, receive, edge_send)
                return
            if verdict is not None and verdict.limit:  # counted against a budget: say which
                extra.extend((k.lower().encode(), v.encode()) for k, v in verdict.headers().items())
            if not admission.queued(scope["path"]):
                await self._within_body_limit(scope, receive, edge_send, headers)
            elif await self.gate.enter():
                try:
                    await self._within_body_limit(scope, receive, edge_send, headers)
                finally:
                    self.gate.leave()
            else:
                await admission.refusal(self.gate.patience)(scope, receive, edge_send)
        finally:
            observe_request(scope, status_code, time.perf_counter() - started)
            error = error_code(error_body)
            log_request(
                method=scope["method"],
                route=getattr(scope.get("route"), "path", None),
                status=status_code,
                error=error,
                action=record.type,
                actor=record.actor,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id", "guid_action")
            # The client has its answer already: what follows costs this task, not the caller.
            await self.limiter.after(scope, rule, status_code)
            if record.type is not None:
                writer: ActionLogWriter = scope["app"].state.action_log
                await writer.write(record, status_code, error)

    async def _within_body_limit(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        if body_limit.declared_too_large(headers.get(b"content-length"), self.max_body_bytes):
            await body_limit.refusal(self.max_body_bytes)(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, body_limit.limited(receive, self.max_body_bytes), tracking_send)
        except body_limit.BodyTooLarge:
            if not response_started:
                await body_limit.refusal(self.max_body_bytes)(scope, receive, send)
