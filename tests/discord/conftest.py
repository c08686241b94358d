"""Discord front-door tests: interactions signed with a key made here, the bot's REST
calls answered by a local stand-in (stand_in.py), the real worker for cards and DMs."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from pytest_httpserver import HTTPServer

from tests.conftest import make_settings
from tests.discord.stand_in import APPLICATION_ID, BOT_TOKEN, DiscordApi
from tests.factories import join_team, token_for
from tests.worker import run_sender_until_idle, run_until_idle
from ticket_service.config import Settings
from ticket_service.main import create_app
from ticket_service.users.models import Role

KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = KEY.public_key().public_bytes_raw().hex()
GUILD = "900100"
AGENT_ROLE = "700001"
ADMIN_ROLE = "700002"
CHANNEL = "123456789012345678"  # the service's card channel
PUBLIC_URL = "https://tickets.1440.test"
PATH = "/api/discord/interactions"

_ids = itertools.count(1300000000000000001)


def sign(body: bytes, timestamp: str | None = None, key: Ed25519PrivateKey = KEY) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    signature = key.sign(timestamp.encode() + body).hex()
    return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp}


def member(discord_id: str, *roles: str, name: str | None = None) -> dict[str, Any]:
    username = name or f"user{discord_id}"
    return {
        "user": {"id": discord_id, "username": username, "global_name": username.title()},
        "roles": list(roles),
    }


def interaction(
    kind: int,
    data: dict[str, Any] | None = None,
    *,
    who: dict[str, Any] | None = None,
    dm_user: str | None = None,
    locale: str = "ru",
    guild: str = GUILD,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(next(_ids)),
        "application_id": APPLICATION_ID,
        "type": kind,
        "token": "interaction-token",
        "version": 1,
        "locale": locale,
        "channel_id": CHANNEL,
    }
    if data is not None:
        payload["data"] = data
    if dm_user is not None:
        payload["user"] = {"id": dm_user, "username": f"user{dm_user}"}
    else:
        payload["guild_id"] = guild
        payload["member"] = who or member("1001")
    return payload


def modal_data(custom_id: str, **values: str) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
            for k, v in values.items()
        ],
    }


@dataclass
class Discord:
    """The app, its client, settings, the REST stand-in."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    api: DiscordApi

    async def send(self, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {**sign(body), "Content-Type": "application/json"}
        return await self.client.post(PATH, content=body, headers=headers)

    async def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self.send(payload)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def run_jobs(self) -> None:
        await run_until_idle(self.settings, "discord_card")
        await run_sender_until_idle(self.settings)


# The agents who press buttons on `general`'s cards are on its team.
TEAM_AGENTS = ("2001", "2002")


@pytest.fixture
async def make_discord(
    database_url: str, redis_url: str, httpserver: HTTPServer
) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Discord:
            api = DiscordApi(httpserver)
            values: dict[str, Any] = {
                "discord_interactions": True,
                "discord_public_key": PUBLIC_KEY,
                "discord_application_id": APPLICATION_ID,
                "discord_guild_id": GUILD,
                "discord_agent_role_ids": [AGENT_ROLE],
                "discord_admin_role_ids": [ADMIN_ROLE],
                "discord_bot_token": BOT_TOKEN,
                "public_url": PUBLIC_URL,
                "notify_retry_base_seconds": 0.05,
            }
            values.update(overrides)
            redis = values.pop("redis_url", redis_url)
            settings = make_settings(database_url, redis, api.base_url, **values)
            app = create_app(settings)
            await stack.enter_async_context(LifespanManager(app))
            for discord_id in TEAM_AGENTS:  # agents work their teams' tickets
                await token_for(app, discord_id, Role.agent)
                await join_team(app, discord_id)
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                )
            )
            return Discord(app, client, settings, api)

        yield make


@pytest.fixture
async def discord_app(make_discord: Any) -> Discord:
    made: Discord = await make_discord()
    return made


@pytest.fixture
def sql_role(database_url: str) -> Any:
    """A user's role as stored."""

    def role(discord_id: str) -> str:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT role FROM users WHERE discord_id = %s", (discord_id,))
            return str(row.fetchone()[0])  # type: ignore[index]

    return role
