"""Request rate limits, counted in Redis by the `limits` library.

Fixed one-minute windows (`limits`' FixedWindowRateLimiter on its RedisStorage, which
shares the app's redis.asyncio connection pool and timeouts):

- RATE_LIMIT_PER_MINUTE per access token (keyed by a hash of it, never the token itself),
  or per client IP for requests without one;
- AUTH_RATE_LIMIT_PER_MINUTE per client IP on the sign-in paths `/api/discord/*`;
- health checks, metrics and the API docs are never limited.

Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (IETF draft); a refused one is 429 `rate_limited` with `Retry-After`.
The client IP is the ASGI scope's: uvicorn resolves X-Forwarded-For from trusted proxies.

Redis holds only counters, so a Redis that fails or is slower than REDIS_TIMEOUT_SECONDS
lets the request through and counts it in `rate_limit_bypassed_total{reason}`. After a
failure the limiter leaves Redis alone for COOLDOWN_SECONDS: otherwise, while Redis is
down, every request would wait out the timeout (redis-py retries refused connections).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter
from prometheus_client import Counter
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticket_service.config import Settings
from ticket_service.errors import error_response

log = structlog.get_logger(__name__)

KEY_PREFIX = "rate_limit"
WINDOW_SECONDS = 60
COOLDOWN_SECONDS = 2.0
AUTH_PATHS = "/api/discord/"
EXEMPT_PATHS = ("/health", "/metrics", "/docs", "/redoc", "/openapi.json")

BYPASSED = Counter(
    "rate_limit_bypassed",
    "Requests let through without a rate-limit check because Redis failed or was slow",
    ["reason"],
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def _exempt(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in EXEMPT_PATHS)


def _token(scope: Scope) -> str | None:
    """The access token as the auth dependency reads it: Bearer first, then `access_token`."""
    headers: dict[bytes, bytes] = dict(scope["headers"])
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    seed = headers.get(b"access_token", b"").decode("latin-1").strip()
    return seed or None


def _per_minute(amount: int) -> RateLimitItem | None:
    return RateLimitItemPerMinute(amount) if amount > 0 else None


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    """Pure ASGI middleware; sits inside ActionLogMiddleware so a 429 has its X-Action-Id."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.api_limit = _per_minute(settings.rate_limit_per_minute)
        self.auth_limit = _per_minute(settings.auth_rate_limit_per_minute)
        self.timeout = settings.redis_timeout_seconds
        self._redis: aioredis.Redis | None = None
        self._limiter: FixedWindowRateLimiter | None = None
        self._cooldown_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self._rule(scope)
        verdict = await self._check(scope, *rule) if rule else None
        if verdict is None:
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            retry_after = str(max(1, verdict.reset_seconds))
            response = error_response(
                429,
                "rate_limited",
                f"Too many requests; retry in {retry_after} s",
                {"limit": verdict.limit, "window_seconds": WINDOW_SECONDS},
                headers={**verdict.headers(), "Retry-After": retry_after},
            )
            await response(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in verdict.headers().items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _rule(self, scope: Scope) -> tuple[RateLimitItem, str, str] | None:
        """(limit, namespace, identity) for this request, or None when it is not limited."""
        path: str = scope["path"]
        if _exempt(path):
            return None
        if path.startswith(AUTH_PATHS):
            return (self.auth_limit, "auth", f"ip:{_client_ip(scope)}") if self.auth_limit else None
        if self.api_limit is None:
            return None
        token = _token(scope)
        if token is None:
            return self.api_limit, "api", f"ip:{_client_ip(scope)}"
        digest = hashlib.sha256(token.encode("latin-1", "replace")).hexdigest()[:32]
        return self.api_limit, "api", f"token:{digest}"

    async def _check(
        self, scope: Scope, item: RateLimitItem, namespace: str, identity: str
    ) -> Verdict | None:
        """Counts the request; None when Redis could not answer in time (fail open)."""
        if time.monotonic() < self._cooldown_until:
            BYPASSED.labels(reason="cooldown").inc()
            return None
        limiter = self._limiter_for(scope["app"].state.redis)
        try:
            async with asyncio.timeout(self.timeout):
                allowed = await limiter.hit(item, namespace, identity)
                stats = await limiter.get_window_stats(item, namespace, identity)
        except (TimeoutError, RedisError, OSError) as exc:
            timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
            BYPASSED.labels(reason="timeout" if timed_out else "redis_error").inc()
            self._cooldown_until = time.monotonic() + COOLDOWN_SECONDS
            log.warning("rate_limit_bypassed", error=repr(exc))
            return None
        return Verdict(
            allowed=allowed,
            limit=item.amount,
            remaining=stats.remaining,
            reset_seconds=max(0, math.ceil(stats.reset_time - time.time())),
        )

    def _limiter_for(self, redis: aioredis.Redis) -> FixedWindowRateLimiter:
        # Built on first use: the app's client exists only once the lifespan has started.
        if self._limiter is None or self._redis is not redis:
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
            self._limiter, self._redis = FixedWindowRateLimiter(storage), redis
        return self._limiter
