"""Fixtures for sign-in tests: the Discord stand-in and apps built with other settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pytest_httpserver import HTTPServer

from tests.auth.discord_stub import DiscordStub
from tests.conftest import make_settings
from ticket_service.main import create_app

BuildClient = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def stub(discord: HTTPServer) -> DiscordStub:
    return DiscordStub(discord)


@pytest.fixture
async def build_client(
    database_url: str, redis_url: str, discord: HTTPServer
) -> AsyncIterator[BuildClient]:
    """An app (and a client for it) with settings overridden, e.g. a guild or admin ids."""
    async with AsyncExitStack() as stack:

        async def build(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
            settings = make_settings(
                overrides.pop("database_url", database_url),
                overrides.pop("redis_url", redis_url),
                overrides.pop("discord_api_base_url", discord.url_for("/api/v10")),
                **overrides,
            )
            application = create_app(settings)
            await stack.enter_async_context(LifespanManager(application))
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=application), base_url="http://testserver"
                )
            )
            return application, client

        yield build


@pytest.fixture
def db(database_url: str) -> Callable[..., list[tuple[Any, ...]]]:
    """Run one SQL statement on the test database (to simulate the passing of time)."""

    def run(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    return run
