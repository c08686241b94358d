"""The bot's REST client against the stand-in: Discord's rate limits are kept."""

from __future__ import annotations

import time

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.discord.stand_in import BOT_TOKEN, DiscordApi
from ticket_service.kit.discord_rest import DiscordError, DiscordRest, RateLimited, route_key


@pytest.fixture
async def rest(httpserver: HTTPServer):
    api = DiscordApi(httpserver)
    async with httpx.AsyncClient() as http:
        yield api, DiscordRest(http, api.base_url, BOT_TOKEN, max_wait=2.0)


async def test_a_429_is_waited_out_then_the_call_succeeds(rest) -> None:
    api, client = rest
    api.throttle(0.4)
    started = time.monotonic()
    message = await client.create_message("42", {"content": "hi"})
    assert time.monotonic() - started >= 0.4
    assert message["channel_id"] == "42"
    first, second = api.of("POST")
    assert second.at - first.at >= 0.4
    assert second.body == {"content": "hi"}


async def test_a_global_429_holds_every_route(rest) -> None:
    api, client = rest
    api.throttle(0.4, global_=True)
    await client.create_message("42", {"content": "a"})
    started = time.monotonic()
    await client.open_dm("1001")  # another route: no wait, the global limit has passed
    assert time.monotonic() - started < 0.3
    api.throttle(0.4, global_=True)
    started = time.monotonic()
    await client.create_message("42", {"content": "b"})
    # The 429 came on the first try: the retry waited 0.4 s
    assert time.monotonic() - started >= 0.4


async def test_an_empty_bucket_is_waited_for_before_calling(rest) -> None:
    api, client = rest
    api.remaining, api.reset_after = 0, 0.5
    await client.create_message("42", {"content": "a"})
    started = time.monotonic()
    await client.create_message("42", {"content": "b"})
    assert time.monotonic() - started >= 0.45
    # Another channel is another bucket (major parameter): no wait.
    api.remaining = None
    started = time.monotonic()
    await client.create_message("43", {"content": "c"})
    assert time.monotonic() - started < 0.3


async def test_a_long_limit_is_raised_for_the_job_to_retry_later(rest) -> None:
    api, client = rest
    api.throttle(30.0)
    with pytest.raises(RateLimited) as caught:
        await client.create_message("42", {"content": "a"})
    assert caught.value.retry_after == 30.0
    assert caught.value.temporary


async def test_errors_say_whether_to_try_again(httpserver: HTTPServer) -> None:
    api = DiscordApi(httpserver)
    async with httpx.AsyncClient() as http:
        wrong = DiscordRest(http, api.base_url, "not-the-token")
        with pytest.raises(DiscordError) as caught:
            await wrong.create_message("42", {"content": "a"})
        assert caught.value.status == 401
        assert not caught.value.temporary
        nowhere = DiscordRest(http, "http://127.0.0.1:9/api/v10", BOT_TOKEN)
        with pytest.raises(DiscordError) as caught:
            await nowhere.open_dm("1")
        assert caught.value.temporary


def test_route_keys_keep_major_parameters() -> None:
    assert route_key("PATCH", "/channels/1/messages/2") == "PATCH /channels/1/messages/:id"
    assert route_key("PATCH", "/channels/1/messages/3") == "PATCH /channels/1/messages/:id"
    assert route_key("PUT", "/applications/5/guilds/6/commands") == (
        "PUT /applications/:id/guilds/:id/commands"
    )
