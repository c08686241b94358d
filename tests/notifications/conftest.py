"""Notification tests: receivers are real servers on 127.0.0.1; the worker is the real one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.conftest import make_settings
from ticket_service.config import Settings
from ticket_service.main import create_app
from ticket_service.worker.app import open_jobs
from ticket_service.worker.resources import open_resources


async def run_worker_until_idle(settings: Settings, within: float = 20.0) -> None:
    """Run the real worker in-process until no job is due or waiting for a retry soon."""
    deadline = time.monotonic() + within
    async with open_jobs(settings) as app, open_resources(settings) as resources:
        while True:
            await app.run_worker_async(
                wait=False,
                install_signal_handlers=False,
                listen_notify=False,
                additional_context={"resources": resources},
            )
            pending = _pending_jobs(settings.database_url or "")
            if not pending or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


def _pending_jobs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            " AND task_name = 'deliver'"
        ).fetchone()
    return int(row[0]) if row else 0


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
