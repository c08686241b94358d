"""The web UI through httpx against the ASGI app: cookies, forms, CSRF, pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pytest_httpserver import HTTPServer

from tests.conftest import make_settings
from ticket_service.config import Settings
from ticket_service.main import create_app
from ticket_service.web.security import CSRF_COOKIE, SESSION_COOKIE

CSRF_INPUT = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@pytest.fixture
def web_settings(database_url: str, redis_url: str, discord: HTTPServer) -> Settings:
    return make_settings(
        database_url,
        redis_url,
        discord.url_for("/api/v10"),
        demo_sign_in=True,
        public_url="http://testserver",
    )


@pytest.fixture
async def web_app(web_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(web_settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client that reads pages like a browser (Accept: text/html)."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"accept": "text/html", "accept-language": "ru-RU,ru;q=0.9,en;q=0.8"},
    ) as client:
        yield client


def csrf_of(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    """Open `page`, take its CSRF token and submit `fields` to `action`, as a browser does."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={"csrf_token": token, **fields})


async def demo_sign_in(client: httpx.AsyncClient, role: str) -> None:
    client.cookies.delete(SESSION_COOKIE)
    response = await post_form(client, "/login", "/login/demo", {"role": role, "next": "/"})
    assert response.status_code == 303, response.text
    assert client.cookies.get(SESSION_COOKIE)
    assert client.cookies.get(CSRF_COOKIE)


@pytest.fixture
async def client_for_api(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The API of the same app, for arranging data as another client would."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
