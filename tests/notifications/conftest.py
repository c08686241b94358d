"""Notification tests: receivers are real servers on 127.0.0.1; the worker is the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.worker import run_sender_until_idle
from ticket_service.config import Settings
from ticket_service.main import create_app


async def run_worker_until_idle(settings: Settings, within: float = 20.0) -> None:
    """Run the real worker's sender in-process until no delivery is waiting (now or for a
    retry) or being sent."""
    await run_sender_until_idle(settings, within)


Build = Callable[..., Any]


@pytest.fixture
async def build(database_url: str, redis_url: str, discord) -> AsyncIterator[Build]:
    """An app + client + settings with notification channels configured as given."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient, Settings]:
            overrides.setdefault("notify_retry_base_seconds", 0.05)
            settings = make_settings(
                database_url, redis_url, discord.url_for("/api/v10"), **overrides
            )
            application = create_app(settings)
            await stack.enter_async_context(LifespanManager(application))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://testserver"
                )
            )
            return application, client, settings

        yield make


def deliveries(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM notification_deliveries ORDER BY id").fetchall()
