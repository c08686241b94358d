"""Request rate limits: fixed one-minute windows counted in Redis, at most one round trip a
request (a busy client's budget is counted in leases, below).

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

Leases. A client that keeps a process busy (an integration, a bot, a load test) would pay
a Redis round trip for every request. So once a budget's window is under way, the process
counts several of its requests in Redis at once and admits them itself: the first request
of a budget counts one, and each time a process spends what it counted before the window
ends, it counts twice as many next time, up to LEASE_MAX and a 32nd of the limit (a budget
under 64 a minute is never leased). The count never goes past the limit, so no more than
the limit is ever admitted across all processes. The price: what one process counted and
has not spent yet is not there for the others, so a client exactly at its limit can be
refused up to (processes - 1) x that much early. A lease ends with its window (the script
gives the window's end to the millisecond), and a 401 drops its budget's lease, so made-up
tokens never get one.

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
import math
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

# A busy budget's lease: at most this many requests counted at once (see the docstring).
LEASE_MAX = 64
# ... and at most this share of the limit, so the processes' unspent leases stay small.
LEASE_SHARE = 32
# Budgets a process remembers leases for; past this, it forgets them all and starts over.
LEASES_KEPT = 10_000

# KEYS[1]: the counter of this request's budget; KEYS[2]: its client IP's failed
# authentications. ARGV[1]: window seconds; ARGV[2]: how many requests to count in KEYS[1]
# (0 = none; more than 1 = a lease, never counted past ARGV[4], the limit); ARGV[3]: the
# failure budget, "0" = not checked.
# Returns {count, ms left in the window, counted}: count -1 = refused for failed
# authentications (the window is KEYS[2]'s), count 0 = nothing counted. The window starts
# with its first request; the expiry is set whenever it is missing, so a counter can never
# outlive its window by accident. A lease that finds no room counts one, as a plain request.
_COUNT_SCRIPT = """
local budget = tonumber(ARGV[3])
if budget > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= budget then
  return {-1, redis.call('PTTL', KEYS[2]), 0}
end
local ask = tonumber(ARGV[2])
if ask == 0 then
  return {0, 0, 0}
end
if ask > 1 then
  local room = tonumber(ARGV[4]) - tonumber(redis.call('GET', KEYS[1]) or '0')
  ask = math.max(1, math.min(ask, room))
end
local count = redis.call('INCRBY', KEYS[1], ask)
local ms = redis.call('PTTL', KEYS[1])
if ms < 0 then
  ms = tonumber(ARGV[1]) * 1000
  redis.call('PEXPIRE', KEYS[1], ms)
end
return {count, ms, ask}
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


@dataclass
class _Lease:
    """What a process counted of one budget in Redis and has not spent yet."""

    spare: int  # requests it may still admit without asking Redis
    counted: int  # the budget's count in Redis when it was counted (all processes)
    ends: float  # the window's end, time.monotonic()
    size: int  # what it asked for: the next ask doubles it, or halves it

    def next_ask(self, most: int) -> int:
        """Asked only when this one is spent or its window has ended."""
        if self.spare == 0:  # spent: the client keeps up with its leases
            return min(most, self.size * 2)
        return max(1, self.size // 2)  # the window ended first: the client slowed down

    def verdict(self, limit: int, now: float) -> Verdict:
        return Verdict(
            True, limit, max(0, limit - self.counted) + self.spare, math.ceil(self.ends - now)
        )


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
        self._leases: dict[str, _Lease] = {}

    async def admit(self, scope: Scope) -> tuple[Rule | None, Verdict | None]:
        """Count the request. The rule it was counted under (None: nothing limits it) and
        the verdict (None: not checked, Redis did not answer in time)."""
        rule = self._rule(scope)
        if rule is None:
            return None, None
        return rule, await self._check(scope, rule)

    async def after(self, scope: Scope, rule: Rule | None, status: int) -> None:
        """After the response has gone out: a 401 to a token counts against its client IP,
        and its budget loses its lease."""
        if status == 401 and rule is not None:
            self._leases.pop(rule.key, None)
            if rule.failures_key is not None:
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
        """Counts the request: from the budget's lease, or one call. None when Redis could
        not answer in time (fail open)."""
        now = time.monotonic()
        most = min(LEASE_MAX, rule.limit // LEASE_SHARE)
        lease = self._leases.get(rule.key) if most > 1 else None
        if lease is not None and lease.spare > 0 and now < lease.ends:
            lease.spare -= 1
            return lease.verdict(rule.limit, now)
        ask = lease.next_ask(most) if lease is not None else int(rule.limit > 0)
        # The script takes both keys always; one that is not used is passed twice.
        failures_key = rule.failures_key or rule.key
        budget = self.auth_limit if rule.failures_key else 0
        result = await self._run(
            scope, [rule.key or failures_key, failures_key], [ask, budget, rule.limit]
        )
        if result is None:
            return None
        count, ms, counted = result
        reset = max(0, math.ceil(ms / 1000))
        if count < 0:
            return Verdict(False, budget, 0, reset, auth_failures=True)
        if count == 0:
            return Verdict(True, 0, 0, 0)
        if count > rule.limit:
            return Verdict(False, rule.limit, 0, reset)
        if most > 1:
            lease = self._lease(rule.key, now)
            lease.spare += counted - 1
            lease.counted = max(lease.counted, count)
            lease.ends, lease.size = now + ms / 1000, ask
            return lease.verdict(rule.limit, now)
        return Verdict(True, rule.limit, rule.limit - count, reset)

    def _lease(self, key: str, now: float) -> _Lease:
        """The budget's lease to add a new count to: the current one (requests of one
        budget may ask Redis at the same time), or a new one."""
        lease = self._leases.get(key)
        if lease is not None and now < lease.ends:
            return lease
        if lease is None and len(self._leases) >= LEASES_KEPT:
            # A bound on memory: forgetting costs each client no more than its spare.
            self._leases.clear()
        lease = self._leases[key] = _Lease(spare=0, counted=0, ends=now, size=1)
        return lease

    async def _count_failure(self, scope: Scope, failures_key: str) -> None:
        await self._run(scope, [failures_key, failures_key], [1, 0, 0], gate=False)

    async def _run(
        self, scope: Scope, keys: list[str], args: list[int], *, gate: bool = True
    ) -> tuple[int, int, int] | None:
        """One EVALSHA of the script. `gate`: the request waits on this answer, so a failure
        lets it through unchecked and counts in `rate_limit_bypassed_total`."""
        if time.monotonic() < self._cooldown_until:
            if gate:
                BYPASSED.labels(reason="cooldown").inc()
            return None
        script = self._script_for(scope["app"].state.redis)
        try:
            async with asyncio.timeout(self.timeout):
                count, ms, counted = await script(keys=keys, args=[WINDOW_SECONDS, *args])
        except (TimeoutError, RedisError, OSError) as exc:
            timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
            if gate:
                BYPASSED.labels(reason="timeout" if timed_out else "redis_error").inc()
            self._cooldown_until = time.monotonic() + COOLDOWN_SECONDS
            event = "rate_limit_bypassed" if gate else "rate_limit_failure_not_counted"
            log.warning(event, error=repr(exc))
            return None
        return int(count), int(ms), int(counted)

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
