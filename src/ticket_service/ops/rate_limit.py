"""Request rate limits: fixed one-minute windows counted in Redis, one round trip a request.

- RATE_LIMIT_PER_MINUTE per access token (keyed by a hash of it, never the token itself),
  or per client IP for requests without one;
- AUTH_RATE_LIMIT_PER_MINUTE per client IP on the sign-in paths `/api/discord/*`, and as
  the budget of failed authentications per client IP (below);
- health checks, metrics, the API docs and Discord's signed interactions
  (`/api/discord/interactions`) are never limited.

Every limited response carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset` (IETF draft); a refused one is 429 `rate_limited` with `Retry-After`.
The client IP is the ASGI scope's: uvicorn resolves X-Forwarded-For from trusted proxies.

Invalid tokens. A token's budget is keyed by the token, so a client spraying made-up tokens
would get a fresh budget with each one (and cost us a database lookup each). So every 401
answered to a request that carried a token counts against its client IP, after the response
has gone out; once an IP has AUTH_RATE_LIMIT_PER_MINUTE of those in a window, its requests
carrying a token get 429 before the token is looked up. Reading that counter rides in the
same Lua call that counts the request, so legitimate traffic still costs one round trip;
only 401s pay a second one. The price: other clients behind the same address (a NAT) are
refused too for the rest of that minute, just as they share the anonymous budget.

Why a script rather than the `limits` library: its fixed window costs three round trips
(hit, then get + ttl for the headers) and cannot read a second key in the same call.

Redis holds only counters, so a Redis that fails or is slower than REDIS_TIMEOUT_SECONDS
lets the request through and counts it in `rate_limit_bypassed_total{reason}`. After a
failure the limiter leaves Redis alone for COOLDOWN_SECONDS: otherwise, while Redis is
down, every request would wait out the timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.types import ASGIApp, Scope

from ticket_service.config import Settings
from ticket_service.errors import error_response

log = structlog.get_logger(__name__)

KEY_PREFIX = "rate_limit"
WINDOW_SECONDS = 60
COOLDOWN_SECONDS = 2.0
AUTH_PATHS = "/api/discord/"
# Discord's own calls, signed (checked before any work): all of the company's interactions
# come from Discord's few addresses, so no per-IP budget fits them.
DISCORD_INTERACTIONS = "/api/discord/interactions"
EXEMPT_PATHS = ("/health", "/metrics", "/docs", "/redoc", "/openapi.json")

BYPASSED = Counter(
    "rate_limit_bypassed",
    "Requests let through without a rate-limit check because Redis failed or was slow",
    ["reason"],
)

# KEYS[1]: the counter of this request's budget; KEYS[2]: its client IP's failed
# authentications. ARGV[1]: window seconds; ARGV[2]: "1" to count the request in KEYS[1];
# ARGV[3]: the failure budget, "0" = not checked.
# Returns {count, ttl}: count -1 = refused for failed authentications (ttl is KEYS[2]'s),
# count 0 = nothing counted. The window starts with its first request; the TTL is set
# whenever it is missing, so a counter can never outlive its window by accident.
_COUNT_SCRIPT = """
local budget = tonumber(ARGV[3])
if budget > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= budget then
  return {-1, redis.call('TTL', KEYS[2])}
end
if ARGV[2] ~= '1' then
  return {0, 0}
end
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    # Refused because the client IP spent its budget of failed authentications.
    auth_failures: bool = False

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@dataclass(frozen=True)
class Rule:
    """What one request is checked against."""

    limit: int  # this request's budget; 0 = the request itself is not counted
    key: str
    failures_key: str | None  # the client IP's failed authentications, for token requests


def exempt(path: str) -> bool:
    """Paths the limiter never answers 429 on (so their OpenAPI entries do not list it)."""
    return path == DISCORD_INTERACTIONS or any(
        path == p or path.startswith(p + "/") for p in EXEMPT_PATHS
    )


def _token(scope: Scope) -> str | None:
    """The access token as the auth dependency reads it: Bearer first, then `access_token`."""
    headers: dict[bytes, bytes] = dict(scope["headers"])
    scheme, _, credentials = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    seed = headers.get(b"access_token", b"").decode("latin-1").strip()
    return seed or None


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimiter:
    """The request's budget check, run by the edge layer (ops/edge.py) inside the action
    log, so a 429 has its X-Action-Id."""

    def __init__(self, settings: Settings) -> None:
        self.api_limit = settings.rate_limit_per_minute
        self.auth_limit = settings.auth_rate_limit_per_minute
        self.timeout = settings.redis_timeout_seconds
        self._redis: aioredis.Redis | None = None
        self._script: AsyncScript | None = None
        self._cooldown_until = 0.0

    async def admit(self, scope: Scope) -> tuple[Rule | None, Verdict | None]:
        """Count the request. The rule it was counted under (None: nothing limits it) and
        the verdict (None: not checked, Redis did not answer in time)."""
        rule = self._rule(scope)
        if rule is None:
            return None, None
        return rule, await self._check(scope, rule)

    async def after(self, scope: Scope, rule: Rule | None, status: int) -> None:
        """After the response has gone out: a 401 to a token counts against its client IP."""
        if status == 401 and rule is not None and rule.failures_key is not None:
            await self._count_failure(scope, rule.failures_key)

    def _rule(self, scope: Scope) -> Rule | None:
        """This request's budget, or None when nothing limits it."""
        path: str = scope["path"]
        if exempt(path):
            return None
        ip = _client_ip(scope)
        if path.startswith(AUTH_PATHS):
            return (
                Rule(self.auth_limit, f"{KEY_PREFIX}:auth:ip:{ip}", None)
                if self.auth_limit
                else None
            )
        token = _token(scope)
        failures_key = f"{KEY_PREFIX}:auth_failures:ip:{ip}" if token and self.auth_limit else None
        if not self.api_limit:
            return Rule(0, "", failures_key) if failures_key else None
        if token is None:
            return Rule(self.api_limit, f"{KEY_PREFIX}:api:ip:{ip}", None)
        digest = hashlib.sha256(token.encode("latin-1", "replace")).hexdigest()[:32]
        return Rule(self.api_limit, f"{KEY_PREFIX}:api:token:{digest}", failures_key)

    async def _check(self, scope: Scope, rule: Rule) -> Verdict | None:
        """Counts the request: one call. None when Redis could not answer in time (fail open)."""
        # The script takes both keys always; one that is not used is passed twice.
        failures_key = rule.failures_key or rule.key
        budget = self.auth_limit if rule.failures_key else 0
        result = await self._run(
            scope, [rule.key or failures_key, failures_key], [int(rule.limit > 0), budget]
        )
        if result is None:
            return None
        count, ttl = result
        if count < 0:
            return Verdict(False, budget, 0, max(0, ttl), auth_failures=True)
        if count == 0:
            return Verdict(True, 0, 0, 0)
        return Verdict(count <= rule.limit, rule.limit, max(0, rule.limit - count), max(0, ttl))

    async def _count_failure(self, scope: Scope, failures_key: str) -> None:
        await self._run(scope, [failures_key, failures_key], [1, 0], gate=False)

    async def _run(
        self, scope: Scope, keys: list[str], args: list[int], *, gate: bool = True
    ) -> tuple[int, int] | None:
        """One EVALSHA of the script. `gate`: the request waits on this answer, so a failure
        lets it through unchecked and counts in `rate_limit_bypassed_total`."""
        if time.monotonic() < self._cooldown_until:
            if gate:
                BYPASSED.labels(reason="cooldown").inc()
            return None
        script = self._script_for(scope["app"].state.redis)
        try:
            async with asyncio.timeout(self.timeout):
                count, ttl = await script(keys=keys, args=[WINDOW_SECONDS, *args])
        except (TimeoutError, RedisError, OSError) as exc:
            timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
            if gate:
                BYPASSED.labels(reason="timeout" if timed_out else "redis_error").inc()
            self._cooldown_until = time.monotonic() + COOLDOWN_SECONDS
            event = "rate_limit_bypassed" if gate else "rate_limit_failure_not_counted"
            log.warning(event, error=repr(exc))
            return None
        return int(count), int(ttl)

    def _script_for(self, redis: aioredis.Redis) -> AsyncScript:
        # Registered on first use: the app's client exists only once the lifespan has started.
        # redis-py sends EVALSHA and loads the script only if the server answers NOSCRIPT.
        if self._script is None or self._redis is not redis:
            self._script, self._redis = redis.register_script(_COUNT_SCRIPT), redis
        return self._script

    @staticmethod
    def refusal(verdict: Verdict) -> ASGIApp:
        retry_after = str(max(1, verdict.reset_seconds))
        reason = (
            "Too many failed authentications from this address"
            if verdict.auth_failures
            else "Too many requests"
        )
        return error_response(
            429,
            "rate_limited",
            f"{reason}; retry in {retry_after} s",
            {"limit": verdict.limit, "window_seconds": WINDOW_SECONDS},
            headers={**verdict.headers(), "Retry-After": retry_after},
        )
