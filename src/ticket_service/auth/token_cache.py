"""Who a token belongs to, remembered in-process for a moment: the token check of most
requests costs no database round trip.

Correctness first, speed second:
- An entry lives AUTH_CACHE_SECONDS (at most 2 s by default) and never past its token's
  expiry, so even a change no process was told of takes effect within that time.
- Logout, refresh, a revoked session or family, a changed role and a new sign-in are
  noted on the database session that makes them (`note_auth_changed`); once that
  transaction has committed, every api process drops the person's entries, this one at
  once and the others through Redis pub/sub (`auth:invalidate`).
- The cache answers only while this process is subscribed and its subscription answered a
  ping within the last two seconds. Redis down or silent: every request asks PostgreSQL,
  never a stale "yes".
- Entries are column snapshots, not ORM objects: each request gets its own User and
  AuthSession, as if it had loaded them. A request that may write gets them attached to
  its session (changes to either are flushed as usual); a read (a read-only session, which
  never flushes) gets them detached: attaching walks both objects' relationships for
  nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import set_committed_value

from ticket_service.auth.models import AuthSession
from ticket_service.db import ReadOnlySession, after_commit, revive, snapshot
from ticket_service.users.models import User

log = structlog.get_logger(__name__)

CHANNEL = "auth:invalidate"
SESSION_KEY = "token_cache"
PING_SECONDS = 1.0
SILENCE_SECONDS = 2.0  # no answer to our pings for this long: the subscription is dead
MAX_ENTRIES = 50_000
STOP_SECONDS = 2.0  # the listener checks its stop flag every PING_SECONDS / 2


@dataclass(frozen=True)
class _Entry:
    user: dict[str, Any]
    auth: dict[str, Any]
    user_id: int
    expires_at: datetime
    cached_at: float


class TokenCache:
    def __init__(self, ttl_seconds: float, redis: aioredis.Redis | None) -> None:
        self.ttl = ttl_seconds
        self.redis = redis
        self._entries: dict[bytes, _Entry] = {}
        self._subscribed = False
        self._last_heard = 0.0
        self._last_invalidation = 0.0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and self.redis is not None

    @property
    def usable(self) -> bool:
        """Only while invalidations can reach this process."""
        return (
            self.enabled
            and self._subscribed
            and time.monotonic() - self._last_heard < SILENCE_SECONDS
        )

    def lookup(self, session: AsyncSession, key: bytes) -> tuple[User, AuthSession] | None:
        if not self.usable:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry.cached_at >= self.ttl or entry.expires_at <= datetime.now(UTC):
            self._entries.pop(key, None)
            return None
        user: User = revive(User, entry.user)
        auth: AuthSession = revive(AuthSession, entry.auth)
        set_committed_value(auth, "user", user)
        if not isinstance(session.sync_session, ReadOnlySession):
            session.add(auth)  # and the user with it: changes to either are flushed as usual
        return user, auth

    def remember(self, key: bytes, auth: AuthSession, read_at: float) -> None:
        """`read_at`: when the database read began. An invalidation that arrived since
        then may describe a change the read did not see, so such a read is not kept."""
        if not self.usable or read_at < self._last_invalidation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()  # crude, and rare: a flood of distinct tokens
        self._entries[key] = _Entry(
            snapshot(auth.user), snapshot(auth), auth.user_id, auth.access_expires_at, read_at
        )

    def forget(self, user_ids: Iterable[int]) -> None:
        ids = set(user_ids)
        self._last_invalidation = time.monotonic()
        for key in [k for k, e in self._entries.items() if e.user_id in ids]:
            del self._entries[key]

    async def invalidate(self, user_ids: set[int]) -> None:
        """After a commit that changed these people's sessions or role: here at once, in
        every other api process through Redis."""
        self.forget(user_ids)
        if self.redis is None:
            return
        try:
            await self.redis.publish(CHANNEL, json.dumps(sorted(user_ids)))
        except (RedisError, OSError) as exc:
            # The others then stop trusting their caches within SILENCE_SECONDS (their
            # pings fail too) or drop the entry at its TTL.
            log.warning("auth_invalidation_not_published", error=repr(exc))

    # --- the subscription ------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._listen(), name="token-cache-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=STOP_SECONDS)
            self._task = None
            self._subscribed = False
            self._entries.clear()

    async def _listen(self) -> None:
        assert self.redis is not None  # noqa: S101 - start() checks enabled
        while not self._stopping:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                await self._pump(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                # On Python 3.11 a cancel that meets redis-py's own read timeout can surface
                # as TimeoutError: the stop flag, not the exception, says whether to go on.
                log.info("token_cache_unsubscribed", error=repr(exc))
            finally:
                self._subscribed = False
                self._entries.clear()  # invalidations may have been missed meanwhile
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if not self._stopping:
                await asyncio.sleep(PING_SECONDS)

    async def _pump(self, pubsub: aioredis.client.PubSub) -> None:
        next_ping = 0.0
        while not self._stopping:
            now = time.monotonic()
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + PING_SECONDS
            if self._subscribed and now - self._last_heard >= SILENCE_SECONDS:
                raise TimeoutError("no answer to pings")
            message = await pubsub.get_message(timeout=PING_SECONDS / 2)
            if message is None:
                continue
            self._last_heard = time.monotonic()
            if message["type"] == "subscribe":
                self._subscribed = True
            elif message["type"] == "message":
                with contextlib.suppress(ValueError, TypeError):
                    self.forget(int(i) for i in json.loads(message["data"]))


@event.listens_for(OrmSession, "after_flush")
def _people_changed(session: OrmSession, flush_context: Any) -> None:
    """Any change to a person's row (role, preferences, availability, name) makes what the
    api processes cached of them stale: forget it once the transaction commits."""
    for obj in session.dirty:
        if isinstance(obj, User) and session.is_modified(obj, include_collections=False):
            note_auth_changed(session, obj.id)


def note_auth_changed(session: AsyncSession | OrmSession, user_id: int) -> None:
    """This transaction changes who `user_id` is to the token check (sessions, role): once
    it commits, the api processes forget what they cached of them."""
    cache: TokenCache | None = session.info.get(SESSION_KEY)
    if cache is None or not cache.enabled:
        return  # not an api process (worker, CLI): entries expire within their TTL
    pending: set[int] = session.info.setdefault("auth_changed", set())
    if not pending:

        async def invalidate() -> None:
            await cache.invalidate(session.info.pop("auth_changed", set()))

        after_commit(session, invalidate)
    pending.add(user_id)
