"""What jobs share inside one worker process: settings, the database, one HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import procrastinate
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ticket_service.config import Settings
from ticket_service.db import create_engine, create_sessionmaker
from ticket_service.kit import crypto
from ticket_service.kit.outbound import pinned_transport
from ticket_service.ops.tracing import configure_tracing
from ticket_service.redis import create_redis


@dataclass(frozen=True)
class Resources:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    redis: aioredis.Redis | None  # None without REDIS_URL: the action log is skipped
    # The same pool in autocommit: a hot job's single statements go without a BEGIN/COMMIT
    # pair (notifications/tasks.py `deliver`).
    autocommit: AsyncEngine


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    crypto.configure(settings.data_key_list, settings.secret_key.get_secret_value())
    engine = create_engine(settings)
    tracing = configure_tracing(settings, "ticket-service-worker")  # a no-op unless configured
    tracing.instrument_engine(engine)
    http = httpx.AsyncClient(
        # Every connection goes only where the outbound policy allows (kit/outbound.py).
        transport=pinned_transport(settings.outbound_policy),
        timeout=settings.notify_timeout_seconds,
        follow_redirects=False,  # a receiver must not send us to an address we refused
        headers={"User-Agent": "ticket-service (1440.test)"},
    )
    redis = create_redis(settings) if settings.redis_url else None
    try:
        yield Resources(
            settings,
            create_sessionmaker(engine, settings),
            http,
            redis,
            engine.execution_options(isolation_level="AUTOCOMMIT"),
        )
    finally:
        if redis is not None:
            await redis.aclose()
        await http.aclose()
        await engine.dispose()
        tracing.shutdown()  # sends the spans still queued


def resources_of(context: procrastinate.JobContext) -> Resources:
    resources: Resources = context.additional_context["resources"]
    return resources
