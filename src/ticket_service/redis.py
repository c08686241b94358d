"""Redis/Valkey client. Redis holds only what may expire or be rebuilt, so callers
treat every Redis error as "skip and count", never as a failed request."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ticket_service.config import Settings


def create_redis(settings: Settings) -> aioredis.Redis:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
        # No retries with backoff: a down Redis must cost one fast failure, not seconds.
        retry=Retry(NoBackoff(), retries=0),
    )
