"""Slack and Discord: real HTTP receivers on 127.0.0.1 (pytest-httpserver), the real worker."""

from __future__ import annotations

import json

from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    PUBLIC_URL,
    all_sent_once,
    bodies,
    changed,
    person,
    posts,
    receive,
)
from ticket_service.users.models import Role

SLACK = "/slack/services/T1/B1/secret"
DISCORD_HOOK = "/discord/webhooks/1/secret"
API = "/api/v10"
BOT_TOKEN = "bot-token-xyz"


async def test_slack_gets_one_block_kit_message_per_event(build, database_url, httpserver):
    url = receive(httpserver, SLACK)
    app, client, settings = await build(slack_webhook_url=url, public_url=PUBLIC_URL + "/")
    author = await person(app, database_url, "1001", display_name="Alice")
    agent = await person(app, database_url, "2001", Role.agent, display_name="Boris")

    ticket = await open_ticket(client, author, "Сломался принтер\nна 3 этаже", priority="high")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    opened, moved = bodies(httpserver, SLACK)
    number, link = ticket["number"], f"{PUBLIC_URL}/api/v1/tickets/{ticket['guid_ticket']}"
    assert opened["text"] == f"Новая заявка #{number}: Сломался принтер"
    assert moved["text"] == f"Заявка #{number}: Открыта → В работе"
    for message, actor in ((opened, "Alice"), (moved, "Boris")):
        header, section, actions = message["blocks"]
        assert header == {
            "type": "header",
            "text": {"type": "plain_text", "text": message["text"]},
        }
        assert f"*Кто:* {actor}" in section["text"]["text"]
        assert "*Сервис:* Общие вопросы" in section["text"]["text"]
        assert "*Приоритет:* high" in section["text"]["text"]
        [button] = actions["elements"]
        assert button["type"] == "button"
        assert button["url"] == link
    assert [r.headers["Content-Type"] for r in posts(httpserver, SLACK)] == ["application/json"] * 2
    rows = deliveries(database_url)
    assert [(r["channel"], r["recipient"]) for r in rows] == [("slack", "default")] * 2
    assert all_sent_once(rows)


async def test_discord_channel_webhook_gets_one_embed_per_event(build, database_url, httpserver):
    url = receive(httpserver, DISCORD_HOOK)
    app, client, settings = await build(discord_webhook_url=url, public_url=PUBLIC_URL)
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, "@everyone VPN упал")
    await changed(client, agent, ticket["guid_ticket"], "closed_success")
    await run_worker_until_idle(settings)

    opened, moved = bodies(httpserver, DISCORD_HOOK)
    number, link = ticket["number"], f"{PUBLIC_URL}/api/v1/tickets/{ticket['guid_ticket']}"
    [embed] = opened["embeds"]
    assert embed["title"] == f"Новая заявка #{number}: @everyone VPN упал"
    assert embed["url"] == link
    assert embed["description"] == "@everyone VPN упал"
    assert {f["name"]: f["value"] for f in embed["fields"]} == {
        "Сервис": "Общие вопросы",
        "Приоритет": "normal",
        "Кто": "user1001",
    }
    [embed] = moved["embeds"]
    assert embed["title"] == f"Заявка #{number}: Открыта → Выполнена"
    assert embed["url"] == link
    assert {f["name"]: f["value"] for f in embed["fields"]}["Кто"] == "user2001"
    # A ticket's text never pings the whole channel.
    assert opened["allowed_mentions"] == {"parse": []}
    assert moved["allowed_mentions"] == {"parse": []}
    assert all_sent_once(deliveries(database_url))


def _discord_bot(httpserver) -> None:
    httpserver.expect_request(f"{API}/users/@me/channels", method="POST").respond_with_json(
        {"id": "777000", "type": 1, "recipients": [{"id": "1001"}]}
    )
    httpserver.expect_request(f"{API}/channels/777000/messages", method="POST").respond_with_json(
        {"id": "888000", "channel_id": "777000"}
    )


async def test_discord_bot_messages_the_author_directly(build, database_url, httpserver):
    _discord_bot(httpserver)
    # build() points DISCORD_API_BASE_URL at this server's /api/v10.
    app, client, settings = await build(discord_bot_token=BOT_TOKEN, public_url=PUBLIC_URL)
    assert settings.discord_api_base_url == httpserver.url_for(API)
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author)
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    [opening] = posts(httpserver, f"{API}/users/@me/channels")
    [sent] = posts(httpserver, f"{API}/channels/777000/messages")
    assert json.loads(opening.get_data()) == {"recipient_id": "1001"}
    assert opening.headers["Authorization"] == f"Bot {BOT_TOKEN}"
    assert sent.headers["Authorization"] == f"Bot {BOT_TOKEN}"
    [embed] = json.loads(sent.get_data())["embeds"]
    assert embed["title"] == f"Заявка #{ticket['number']}: Открыта → В работе"
    assert embed["url"] == f"{PUBLIC_URL}/api/v1/tickets/{ticket['guid_ticket']}"
    rows = deliveries(database_url)
    assert [(r["channel"], r["recipient"]) for r in rows] == [("discord_dm", "1001")]
    assert all_sent_once(rows)


async def test_no_direct_message_for_the_authors_own_change(build, database_url, httpserver):
    _discord_bot(httpserver)
    app, client, settings = await build(discord_bot_token=BOT_TOKEN)
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author)
    await changed(client, author, ticket["guid_ticket"], "closed_fail")
    await changed(client, agent, ticket["guid_ticket"], "open")
    await run_worker_until_idle(settings)

    # Only the agent's reopening reached the author.
    [sent] = posts(httpserver, f"{API}/channels/777000/messages")
    [embed] = json.loads(sent.get_data())["embeds"]
    assert embed["title"] == f"Заявка #{ticket['number']}: Закрыта без решения → Открыта"
    assert len(posts(httpserver, f"{API}/users/@me/channels")) == 1


async def test_slack_never_pings_the_channel_from_user_text(build, database_url, httpserver):
    url = receive(httpserver, SLACK)
    app, client, settings = await build(slack_webhook_url=url)
    # Titles come from employees and display names from Discord: neither may @channel.
    author = await person(app, database_url, "1001", display_name="<!channel> & co")
    await open_ticket(client, author, "<!here> VPN <@U123> упал")
    await run_worker_until_idle(settings)

    [message] = bodies(httpserver, SLACK)
    section = message["blocks"][1]["text"]["text"]
    assert "*Кто:* &lt;!channel&gt; &amp; co" in section
    assert message["text"].endswith("&lt;!here&gt; VPN &lt;@U123&gt; упал")
    assert "<!" not in message["text"] + section
    # The header is plain text: shown as typed, never parsed for mentions.
    assert message["blocks"][0]["text"]["text"].endswith("<!here> VPN <@U123> упал")
