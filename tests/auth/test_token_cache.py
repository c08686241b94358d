"""The token cache: most requests check their token without PostgreSQL, and a revoked
session or a changed role still takes effect at once in every api process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from tests.conftest import make_settings
from tests.factories import token_for
from tests.statements import watch_sql
from ticket_service.main import create_app
from ticket_service.users.models import Role

# Long enough that only an invalidation, never the TTL, can explain a refusal in time.
LONG_TTL = 60.0


@asynccontextmanager
async def api(settings: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield app, c


async def until(predicate: Any, seconds: float = 3.0) -> float:
    """Poll until true; how long it took. Fails after `seconds`."""
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < seconds, "not within the deadline"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def subscribed(app: FastAPI) -> None:
    async def usable() -> bool:
        return bool(app.state.token_cache.usable)

    await until(usable)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_known_token_is_checked_without_the_database(database_url, redis_url, discord):
    settings = make_settings(database_url, redis_url, discord.url_for("/api/v10"))
    async with api(settings) as (app, client):
        await subscribed(app)
        token = await token_for(app, "5001")
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        sql = watch_sql(app)
        me = await client.get("/api/v1/me", headers=bearer(token))
        assert me.status_code == 200
        assert me.json()["discord_id"] == "5001"
        assert sql == []  # no token query, no BEGIN/COMMIT either
        # A write through a cached identity works like any other (the user is attached).
        opened = await client.post("/api/v1/tickets", json={"text": "Мышь"}, headers=bearer(token))
        assert opened.status_code == 201, opened.text
        assert opened.json()["author"] == "5001"


async def test_logout_in_one_process_is_refused_at_once_in_another(
    database_url, redis_url, discord
):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), auth_cache_seconds=LONG_TTL
    )
    async with api(settings) as (app1, one), api(settings) as (app2, two):
        await subscribed(app1)
        await subscribed(app2)
        token = await token_for(app1, "5002")
        assert (await two.get("/api/v1/me", headers=bearer(token))).status_code == 200
        sql = watch_sql(app2)
        assert (await two.get("/api/v1/me", headers=bearer(token))).status_code == 200
        assert sql == []  # process two trusts its cache now

        assert (await one.post("/api/v1/auth/logout", headers=bearer(token))).status_code == 204

        async def refused() -> bool:
            r = await two.get("/api/v1/me", headers=bearer(token))
            return r.status_code == 401

        assert await until(refused, seconds=2.0) < 1.0


async def test_a_role_change_counts_from_the_next_request_everywhere(
    database_url, redis_url, discord
):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), auth_cache_seconds=LONG_TTL
    )
    async with api(settings) as (app1, one), api(settings) as (app2, two):
        await subscribed(app1)
        await subscribed(app2)
        admin = await token_for(app1, "5900", Role.admin)
        token = await token_for(app1, "5003")
        assert (await two.get("/api/v1/me", headers=bearer(token))).json()["role"] == "employee"

        changed = await one.put(
            "/api/v1/users/5003/role", json={"role": "agent"}, headers=bearer(admin)
        )
        assert changed.status_code == 200, changed.text

        async def agent() -> bool:
            r = await two.get("/api/v1/me", headers=bearer(token))
            return r.json()["role"] == "agent"

        assert await until(agent, seconds=2.0) < 1.0


async def test_without_redis_every_request_asks_the_database(database_url, discord):
    # A port nobody listens on: the cache cannot subscribe, so it never answers.
    settings = make_settings(
        database_url, "redis://127.0.0.1:9/0", discord.url_for("/api/v10"), auth_cache_seconds=60
    )
    async with api(settings) as (app, client):
        token = await token_for(app, "5004")
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        assert not app.state.token_cache.usable
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("UPDATE auth_sessions SET revoked_at = now()")
        # Revoked behind the service's back, with nobody to tell: still refused at once.
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_an_entry_never_outlives_its_token(database_url, redis_url, discord):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), auth_cache_seconds=LONG_TTL
    )
    async with api(settings) as (app, client):
        await subscribed(app)
        token = await token_for(app, "5005")
        with psycopg.connect(database_url, autocommit=True) as conn:
            # Issued to expire a moment from now: the cache learns that expiry with the token.
            conn.execute("UPDATE auth_sessions SET access_expires_at = now() + interval '1 second'")
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200

        async def refused() -> bool:
            r = await client.get("/api/v1/me", headers=bearer(token))
            return r.status_code == 401

        # Refused at expiry, long before the cache's own 60 s.
        assert await until(refused, seconds=3.0) < 2.5
