"""`ticket-service dev --demo` data, and the settings the web UI adds."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from tests.conftest import make_settings
from tests.web.conftest import demo_sign_in
from ticket_service.config import Settings
from ticket_service.devserver import seed_demo


async def test_demo_data_is_seeded_once_and_shows_up(
    web_settings: Settings, browser: httpx.AsyncClient
) -> None:
    assert await seed_demo(web_settings) is True
    assert await seed_demo(web_settings) is False
    await demo_sign_in(browser, "employee")
    mine = (await browser.get("/tickets")).text
    for title in ("Не работает VPN", "Справка 2-НДФЛ", "Сломался стул"):
        assert title in mine
    await demo_sign_in(browser, "agent")
    taken = (await browser.get("/queue", params={"view": "mine"})).text
    assert "Не работает VPN" in taken
    assert "Сломался стул" not in taken


def test_production_refuses_the_demo_sign_in(database_url: str, redis_url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_settings(
            database_url,
            redis_url,
            "https://discord.com/api/v10",
            environment="production",
            secret_key="x" * 40,
            public_url="https://desk.1440.test",
            discord_redirect_uri="https://desk.1440.test/api/discord/auth",
            discord_authorize_url="https://discord.com/oauth2/authorize",
            outbound_allowed_hosts=[],
            demo_sign_in=True,
        )
    assert "DEMO_SIGN_IN must be false when ENVIRONMENT=production" in str(refused.value)


def test_an_unknown_time_zone_is_refused(database_url: str, redis_url: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        make_settings(database_url, redis_url, "http://x", web_time_zone="Mars/Olympus")


def test_the_web_redirect_uri_follows_public_url(web_settings: Settings) -> None:
    assert web_settings.web_redirect_uri == "http://testserver/auth/callback"
