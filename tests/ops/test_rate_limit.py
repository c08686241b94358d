"""Rate limits: per token, per anonymous IP, per IP on sign-in and on failed tokens; one
Redis round trip a request; fail open without Redis."""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
            # A failed token is answered as ever; its failure simply goes uncounted.
            r = await client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"})
            assert r.status_code == 401, r.text
    assert bypassed() - before == 5


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


async def test_spraying_made_up_tokens_is_limited_per_ip(
    database_url, redis_url, discord, redis_client
):
    async with started(
        redis_url, database_url, discord, rate_limit_per_minute=100, auth_rate_limit_per_minute=3
    ) as app:
        legit = await auth_headers(app, "7010")
        async with client_from(app, "6.6.6.6") as attacker:
            # Each made-up token would have a fresh budget of 100; the address has 3 failures.
            for _ in range(3):
                bogus = {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}
                r = await attacker.get("/api/v1/tickets", headers=bogus)
                assert r.status_code == 401, r.text
            keys_before = set(redis_client.keys("rate_limit:*"))
            for bogus in (
                {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"},
                {"access_token": secrets.token_urlsafe(24)},  # the seed's header: the same
            ):
                r = await attacker.post("/api/v1/tickets", json={"text": "x"}, headers=bogus)
                assert_rate_limited(r, 3)
                assert "failed authentications" in r.json()["error"]["message"]
            # Refused before the token is counted (or looked up): no new key per token.
            assert set(redis_client.keys("rate_limit:*")) == keys_before
            # Documented trade-off: a good token from the same address waits out the minute.
            assert_rate_limited(await attacker.get("/api/v1/tickets", headers=legit), 3)
            # Requests without a token are not what the failure budget guards.
            r = await attacker.get("/api/v1/tickets")
            assert r.status_code == 401, r.text
        async with client_from(app, "7.7.7.7") as colleague:
            r = await colleague.get("/api/v1/tickets", headers=legit)
            assert r.status_code == 200, r.text
            assert r.headers["ratelimit-limit"] == "100"
            # One failure of this address, well within its own budget.
            bogus = {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}
            assert (await colleague.get("/api/v1/tickets", headers=bogus)).status_code == 401
            r = await colleague.get("/api/v1/tickets", headers=legit)
            assert r.status_code == 200, r.text


async def test_failed_tokens_are_limited_with_the_api_limit_off(database_url, redis_url, discord):
    async with started(
        redis_url, database_url, discord, rate_limit_per_minute=0, auth_rate_limit_per_minute=2
    ) as app:
        legit = await auth_headers(app, "7011")
        async with client_from(app, "6.6.6.7") as client:
            r = await client.get("/api/v1/tickets", headers=legit)
            assert r.status_code == 200, r.text
            assert "ratelimit-limit" not in r.headers  # the request itself is not counted
            for _ in range(2):
                bogus = {"access_token": secrets.token_urlsafe(24)}
                assert (await client.get("/api/v1/me", headers=bogus)).status_code == 401
            assert_rate_limited(await client.get("/api/v1/me", headers=bogus), 2)


class RoundTripCounter:
    """A TCP proxy in front of Valkey that counts round trips: each time a client speaks
    again after the server has answered. A pipeline or a script is one; two commands sent
    one after the other are two, however the bytes are split into packets. The token
    cache's subscription connection is not counted once it has subscribed: its pings
    keep a clock of their own (one a second), not the requests'."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 6379
        self._target = parts
        self.round_trips = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return urlunsplit(self._target._replace(netloc=f"127.0.0.1:{port}"))

    async def __aenter__(self) -> RoundTripCounter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        client_turn = False

        subscriber = False

        async def upstream() -> None:
            nonlocal client_turn, subscriber
            while data := await client_r.read(65536):
                subscriber = subscriber or b"$9\r\nSUBSCRIBE\r\n" in data.upper()
                if not client_turn and not subscriber:
                    self.round_trips += 1
                    client_turn = True
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:
            nonlocal client_turn
            while data := await server_r.read(65536):
                client_turn = False
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


async def round_trips(
    redis_url: str, database_url: str, discord: Any, who: str, path: str, status: int, **limits: Any
) -> int:
    """Redis round trips of three identical requests, after one to warm the connection."""
    async with (
        RoundTripCounter(redis_url) as counter,
        started(counter.url, database_url, discord, **limits) as app,
        client_from(app) as client,
    ):
        headers = {
            "token": await auth_headers(app, "7020"),
            "bogus token": {"Authorization": "Bearer made-up"},
            "anonymous": {},
        }[who]
        # The first request opens the connection (HELLO, ...) and loads the script if needed.
        await client.get(path, headers=headers)
        before = counter.round_trips
        for _ in range(3):
            r = await client.get(path, headers=headers)
            assert r.status_code == status, r.text
        return counter.round_trips - before


@pytest.mark.parametrize(
    ("who", "path", "status", "extra"),
    [
        ("token", "/api/v1/tickets", 200, 1),
        ("token", "/api/v1/nothing-here", 404, 1),
        ("anonymous", "/api/v1/tickets", 401, 1),
        ("anonymous", "/api/discord/auth_link", 200, 1),
        # A 401 to a token pays a second one, after its response: the failure count.
        ("bogus token", "/api/v1/tickets", 401, 2),
    ],
)
async def test_the_limiter_costs_one_redis_round_trip(
    database_url, redis_url, discord, who, path, status, extra
):
    on = {"rate_limit_per_minute": 100, "auth_rate_limit_per_minute": 100}
    off = {"rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0}
    args = (redis_url, database_url, discord, who, path, status)
    with_limits = await round_trips(*args, **on)
    without = await round_trips(*args, **off)
    assert with_limits - without == 3 * extra, (with_limits, without)
