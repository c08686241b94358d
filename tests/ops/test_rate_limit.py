"""Rate limits: per token, per anonymous IP, per IP on sign-in and on failed tokens; at
most one Redis round trip a request, fewer for a busy client (leases); fail open without
Redis."""

from __future__ import annotations

import asyncio
import hashlib
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
from ticket_service.ops import rate_limit

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
        self.scripts = 0  # the rate limit's calls (EVALSHA) among them
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
                self.scripts += data.upper().count(b"$7\r\nEVALSHA\r\n")
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
    # A budget under 64 a minute is never leased: every request is counted on its own.
    on = {"rate_limit_per_minute": 63, "auth_rate_limit_per_minute": 63}
    off = {"rate_limit_per_minute": 0, "auth_rate_limit_per_minute": 0}
    args = (redis_url, database_url, discord, who, path, status)
    with_limits = await round_trips(*args, **on)
    without = await round_trips(*args, **off)
    assert with_limits - without == 3 * extra, (with_limits, without)


async def busy_client(
    redis_url: str, database_url: str, discord: Any, limit: int
) -> tuple[int, list[str], int]:
    """Redis round trips of 40 requests of one token (after one to warm the connection),
    what they said was left, and the round trips of 5 requests with a made-up token."""
    async with (
        RoundTripCounter(redis_url) as counter,
        started(
            counter.url,
            database_url,
            discord,
            rate_limit_per_minute=limit,
            auth_rate_limit_per_minute=min(limit, 30),
        ) as app,
        client_from(app) as client,
    ):
        headers = await auth_headers(app, "7030")
        await client.get("/api/v1/me", headers=headers)  # connects, loads the script
        before = counter.round_trips
        remaining = []
        for _ in range(40):
            r = await client.get("/api/v1/me", headers=headers)
            assert r.status_code == 200, r.text
            remaining.append(r.headers.get("ratelimit-remaining", ""))
        busy = counter.round_trips - before
        before = counter.round_trips
        bogus = {"Authorization": "Bearer made-up"}
        for _ in range(5):
            assert (await client.get("/api/v1/me", headers=bogus)).status_code == 401
        return busy, remaining, counter.round_trips - before


async def test_a_busy_client_is_counted_in_leases(database_url, redis_url, discord):
    busy, remaining, bogus = await busy_client(redis_url, database_url, discord, 320)
    busy_off, _, bogus_off = await busy_client(redis_url, database_url, discord, 0)
    # Leases of 2, 4, 8, then 10 (a 32nd of 320): 6 round trips for 40 requests.
    assert busy - busy_off == 6
    # One process: what it says is left is exact.
    assert remaining == [str(n) for n in range(318, 278, -1)]
    # A 401 drops its budget's lease: a made-up token pays the count and the failure count,
    # every time.
    assert bogus - bogus_off == 10


async def test_leases_never_admit_more_than_the_limit(database_url, redis_url, discord):
    # Two api processes (two apps on one Redis), one client alternating between them.
    async with (
        started(redis_url, database_url, discord, rate_limit_per_minute=128) as one,
        started(redis_url, database_url, discord, rate_limit_per_minute=128) as two,
        client_from(one) as first,
        client_from(two) as second,
    ):
        headers = await auth_headers(one, "7031")
        answers = []
        for i in range(200):
            r = await (first, second)[i % 2].get("/api/v1/me", headers=headers)
            answers.append(r.status_code)
            if r.status_code == 429:
                assert_rate_limited(r, 128)
        # Each process spends what it counted before it asks again: nothing is lost.
        assert answers.count(200) == 128
        assert answers[answers.index(429) :].count(200) <= 4  # the other's last lease


async def test_a_lease_ends_with_its_window(database_url, redis_url, discord, redis_client):
    async with (
        RoundTripCounter(redis_url) as counter,
        started(counter.url, database_url, discord, rate_limit_per_minute=320) as app,
        client_from(app) as client,
    ):
        token = await token_for(app, "7032")
        headers = {"Authorization": f"Bearer {token}"}
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        # A window with 1.5 s left.
        redis_client.set(f"rate_limit:api:token:{digest}", 0, px=1500)
        r = await client.get("/api/v1/me", headers=headers)
        assert r.headers["ratelimit-remaining"] == "319"
        assert r.headers["ratelimit-reset"] in ("1", "2")
        r = await client.get("/api/v1/me", headers=headers)  # a lease of 2: one left
        assert r.headers["ratelimit-remaining"] == "318"
        await asyncio.sleep(1.6)
        before = counter.scripts
        r = await client.get("/api/v1/me", headers=headers)
        # Not the old window's spare: Redis is asked, and the new window has 319 left.
        assert counter.scripts - before == 1
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-remaining"] == "319"
        assert int(r.headers["ratelimit-reset"]) == 60


async def test_a_process_forgets_its_leases_past_a_bound(
    database_url, redis_url, discord, monkeypatch
):
    monkeypatch.setattr(rate_limit, "LEASES_KEPT", 1)
    async with (
        RoundTripCounter(redis_url) as counter,
        started(counter.url, database_url, discord, rate_limit_per_minute=320) as app,
        client_from(app) as client,
    ):
        one, other = await auth_headers(app, "7033"), await auth_headers(app, "7034")
        for _ in range(2):  # the second request counts a lease of 2: one spare
            assert (await client.get("/api/v1/me", headers=one)).status_code == 200
        assert (await client.get("/api/v1/me", headers=other)).status_code == 200
        before = counter.scripts
        r = await client.get("/api/v1/me", headers=one)
        # Its spare was forgotten with the other budget's arrival: Redis is asked again.
        assert counter.scripts - before == 1
        assert r.status_code == 200, r.text
        assert r.headers["ratelimit-remaining"] == "316"  # three spent, one lost
