"""Rate limits: per token, per anonymous IP, per IP on sign-in; fail open without Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY

from tests.conftest import make_settings
from tests.factories import auth_headers, token_for
from ticket_service.main import create_app

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@asynccontextmanager
async def started(
    redis_url: str, database_url: str, discord: Any, **limits: Any
) -> AsyncIterator[FastAPI]:
    settings = make_settings(database_url, redis_url, discord.url_for("/api/v10"), **limits)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@asynccontextmanager
async def client_from(app: FastAPI, ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip, 123))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def bypassed() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "rate_limit_bypassed":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


def assert_rate_limited(r: httpx.Response, limit: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json() == {
        "error": {
            "code": "rate_limited",
            "message": r.json()["error"]["message"],
            "details": {"limit": limit, "window_seconds": 60},
        }
    }
    assert r.json()["error"]["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["ratelimit-limit"] == str(limit)
    assert r.headers["ratelimit-remaining"] == "0"
    assert 0 <= int(r.headers["ratelimit-reset"]) <= 60
    assert r.headers["x-action-id"]


async def test_fourth_request_of_a_token_is_refused(database_url, redis_url, discord, redis_client):
    async with started(redis_url, database_url, discord, rate_limit_per_minute=3) as app:
        token = await token_for(app, "7001")
        headers = {"Authorization": f"Bearer {token}"}
        async with client_from(app) as client:
            remaining = []
            for _ in range(3):
                r = await client.get("/api/v1/tickets", headers=headers)
                assert r.status_code == 200, r.text
                assert r.headers["ratelimit-limit"] == "3"
                assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
                remaining.append(r.headers["ratelimit-remaining"])
            assert remaining == ["2", "1", "0"]

            # The seed's header carries the same token: the same budget.
            r = await client.get("/api/v1/tickets", headers={"access_token": token})
            assert_rate_limited(r, 3)
            r = await client.post("/api/v1/tickets", json={"text": "ещё"}, headers=headers)
            assert_rate_limited(r, 3)

            other = await auth_headers(app, "7002")
            r = await client.get("/api/v1/tickets", headers=other)
            assert r.status_code == 200, r.text
            assert r.headers["ratelimit-remaining"] == "2"

    keys = [k for k in redis_client.keys("rate_limit:*")]
    assert len(keys) == 2, keys
    assert not any(token in k for k in keys)


async def test_anonymous_clients_are_limited_per_ip(database_url, redis_url, discord):
    async with started(redis_url, database_url, discord, rate_limit_per_minute=3) as app:
        async with client_from(app, "1.2.3.4") as client:
            for _ in range(3):
                r = await client.get("/api/v1/tickets")
                assert r.status_code == 401, r.text
                assert "ratelimit-remaining" in r.headers
            assert_rate_limited(await client.get("/api/v1/tickets"), 3)
            # A token from the same address has a budget of its own.
            r = await client.get("/api/v1/tickets", headers=await auth_headers(app, "7003"))
            assert r.status_code == 200, r.text
        async with client_from(app, "5.6.7.8") as client:
            r = await client.get("/api/v1/tickets")
            assert r.status_code == 401, r.text
            assert r.headers["ratelimit-remaining"] == "2"


async def test_sign_in_is_limited_per_ip(database_url, redis_url, discord):
    async with started(
        redis_url, database_url, discord, rate_limit_per_minute=100, auth_rate_limit_per_minute=3
    ) as app:
        async with client_from(app, "1.2.3.4") as client:
            for expected in ("2", "1", "0"):
                r = await client.get("/api/discord/auth_link")
                assert r.status_code == 200, r.text
                assert r.headers["ratelimit-limit"] == "3"
                assert r.headers["ratelimit-remaining"] == expected
            assert_rate_limited(await client.get("/api/discord/auth_link"), 3)
            # A token does not lift the sign-in limit, which is per address.
            headers = await auth_headers(app, "7004")
            assert_rate_limited(await client.get("/api/discord/auth_link", headers=headers), 3)
            # The API budget is another one.
            r = await client.get("/api/v1/tickets", headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["ratelimit-limit"] == "100"
        async with client_from(app, "5.6.7.8") as client:
            assert (await client.get("/api/discord/auth_link")).status_code == 200


async def test_health_docs_and_metrics_are_never_limited(database_url, redis_url, discord):
    async with (
        started(
            redis_url, database_url, discord, rate_limit_per_minute=1, auth_rate_limit_per_minute=1
        ) as app,
        client_from(app) as client,
    ):
        for _ in range(3):
            for path in ("/health/live", "/health/ready", "/openapi.json", "/docs", "/redoc"):
                r = await client.get(path)
                assert r.status_code == 200, (path, r.text)
                assert "ratelimit-limit" not in r.headers
            r = await client.get("/metrics")
            assert r.status_code != 429
            assert "ratelimit-limit" not in r.headers


async def test_zero_turns_the_limits_off(database_url, redis_url, discord, redis_client):
    async with started(
        redis_url, database_url, discord, rate_limit_per_minute=0, auth_rate_limit_per_minute=0
    ) as app:
        headers = await auth_headers(app, "7005")
        async with client_from(app) as client:
            for _ in range(5):
                r = await client.get("/api/v1/tickets", headers=headers)
                assert r.status_code == 200, r.text
                assert "ratelimit-limit" not in r.headers
                r = await client.get("/api/discord/auth_link")
                assert r.status_code == 200, r.text
                assert "ratelimit-limit" not in r.headers
    assert redis_client.keys("rate_limit:*") == []


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_redis_down_lets_requests_through(database_url, discord, closed_port):
    before = bypassed()
    redis_url = f"redis://127.0.0.1:{closed_port}/0"
    async with started(
        redis_url, database_url, discord, rate_limit_per_minute=1, auth_rate_limit_per_minute=1
    ) as app:
        headers = await auth_headers(app, "7006")
        async with client_from(app) as client:
            for _ in range(3):
                r = await client.get("/api/v1/tickets", headers=headers)
                assert r.status_code == 200, r.text
                assert "ratelimit-limit" not in r.headers
            r = await client.get("/api/discord/auth_link")
            assert r.status_code == 200, r.text
    assert bypassed() - before == 4


async def test_slow_redis_costs_at_most_the_timeout(database_url, discord, silent_port):
    before = bypassed()
    redis_url = f"redis://127.0.0.1:{silent_port}/0"
    async with (
        started(
            redis_url, database_url, discord, rate_limit_per_minute=1, redis_timeout_seconds=0.3
        ) as app,
        client_from(app) as client,
    ):
        started_at = time.monotonic()
        # No action-log record for an unknown path: only the limiter talks to Redis.
        r = await client.get("/api/v1/nothing-here")
        elapsed = time.monotonic() - started_at
    assert r.status_code == 404, r.text
    assert elapsed < 1.5
    assert bypassed() - before == 1
