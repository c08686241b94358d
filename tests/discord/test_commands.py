"""Slash commands, autocomplete, the modal that opens a ticket, the message command."""

from __future__ import annotations

import psycopg

from tests.discord.conftest import (
    AGENT_ROLE,
    CHANNEL,
    GUILD,
    PUBLIC_URL,
    Discord,
    interaction,
    member,
    modal_data,
)
from tests.discord.stand_in import APPLICATION_ID
from tests.factories import auth_headers
from ticket_service.cli import main
from ticket_service.config import get_settings
from ticket_service.users.models import Role


def _inputs(modal: dict) -> dict[str, dict]:
    return {c["custom_id"]: c for row in modal["data"]["components"] for c in row["components"]}


async def _service(d: Discord, slug: str, name: str, **changes: object) -> None:
    admin = await auth_headers(d.app, "3001", Role.admin)
    r = await d.client.post("/api/v1/services", json={"slug": slug, "name": name}, headers=admin)
    assert r.status_code == 201, r.text
    if changes:
        r = await d.client.patch(f"/api/v1/services/{slug}", json=changes, headers=admin)
        assert r.status_code == 200, r.text


async def test_ticket_command_opens_a_modal(discord_app: Discord) -> None:
    data = {
        "name": "ticket",
        "type": 1,
        "options": [
            {"name": "service", "type": 3, "value": "it"},
            {"name": "priority", "type": 3, "value": "high"},
        ],
    }
    answer = await discord_app.answer(interaction(2, data))
    assert answer["type"] == 9
    assert answer["data"]["custom_id"] == "open:high:it"
    assert answer["data"]["title"] == "Новая заявка"
    inputs = _inputs(answer)
    assert inputs["text"]["style"] == 2
    assert inputs["text"]["required"] is True
    assert inputs["title"]["required"] is False


async def test_service_autocomplete_offers_active_services(discord_app: Discord) -> None:
    await _service(discord_app, "it", "IT-поддержка")
    await _service(discord_app, "hr", "Кадры")
    await _service(discord_app, "old-it", "Старый IT", is_active=False)
    data = {
        "name": "ticket",
        "type": 1,
        "options": [{"name": "service", "type": 3, "value": "it", "focused": True}],
    }
    answer = await discord_app.answer(interaction(4, data))
    assert answer == {"type": 8, "data": {"choices": [{"name": "IT-поддержка", "value": "it"}]}}
    data["options"][0]["value"] = ""
    answer = await discord_app.answer(interaction(4, data))
    assert [c["value"] for c in answer["data"]["choices"]] == ["general", "hr", "it"]


async def test_the_modal_submit_opens_the_ticket(discord_app: Discord) -> None:
    await _service(discord_app, "it", "IT-поддержка")
    submit = modal_data("open:high:it", title="", text="VPN не работает\nС утра.")
    answer = await discord_app.answer(interaction(5, submit, who=member("1001", name="alice")))
    assert answer["type"] == 4
    assert answer["data"]["flags"] == 64
    headers = await auth_headers(discord_app.app, "1001")
    [ticket] = (await discord_app.client.get("/api/v1/tickets", headers=headers)).json()["items"]
    assert ticket["title"] == "VPN не работает"
    assert ticket["service"] == "it"
    assert ticket["priority"] == "high"
    assert ticket["author"] == "1001"
    link = f"{PUBLIC_URL}/tickets/{ticket['guid_ticket']}"
    assert answer["data"]["content"] == f"Заявка #{ticket['number']} открыта: {link}"


async def test_an_invalid_modal_is_an_ephemeral_refusal(discord_app: Discord) -> None:
    answer = await discord_app.answer(
        interaction(5, modal_data("open:normal:nope", text="x"), locale="en-GB")
    )
    assert answer["data"]["flags"] == 64
    assert answer["data"]["content"] == "There is no such active service."
    answer = await discord_app.answer(interaction(5, modal_data("open:normal:general", text=" ")))
    assert answer["data"]["content"].startswith("Не получилось:")


async def test_my_open_tickets(discord_app: Discord) -> None:
    empty = await discord_app.answer(interaction(2, {"name": "tickets"}, locale="en-US"))
    assert empty["data"] == {
        "content": "You have no open tickets.",
        "flags": 64,
        "allowed_mentions": {"parse": []},
    }
    for text in ("Первая", "Вторая", "Третья"):
        await discord_app.answer(interaction(5, modal_data("open:normal:general", text=text)))
    agent = await auth_headers(discord_app.app, "2001", Role.agent)
    mine = await auth_headers(discord_app.app, "1001")
    listed = (await discord_app.client.get("/api/v1/tickets", headers=mine)).json()["items"]
    second = next(t for t in listed if t["title"] == "Вторая")
    url = f"/api/v1/tickets/{second['guid_ticket']}/status"
    assert (
        await discord_app.client.post(url, json={"status": "closed_success"}, headers=agent)
    ).status_code == 200
    # Someone else's ticket is not listed.
    await discord_app.answer(
        interaction(5, modal_data("open:normal:general", text="Чужая"), who=member("1002"))
    )

    answer = await discord_app.answer(interaction(2, {"name": "tickets"}))
    lines = answer["data"]["content"].splitlines()
    assert lines[0] == "Ваши открытые заявки:"
    assert [line.split(" · ")[2].split(" — ")[0] for line in lines[1:]] == ["Третья", "Первая"]
    assert f"{PUBLIC_URL}/tickets/" in lines[1]


async def test_create_ticket_from_a_message(discord_app: Discord, database_url: str) -> None:
    await _service(discord_app, "it", "IT-поддержка", discord_channel_id=CHANNEL)
    message_id = "1400000000000000001"
    data = {
        "name": "Create ticket",
        "type": 3,
        "target_id": message_id,
        "resolved": {
            "messages": {
                message_id: {
                    "id": message_id,
                    "channel_id": CHANNEL,
                    "content": "Принтер на 3 этаже жуёт бумагу",
                    "author": {"id": "1002", "username": "bob"},
                }
            }
        },
    }
    modal = await discord_app.answer(interaction(2, data, who=member("2001", AGENT_ROLE)))
    assert modal["type"] == 9
    assert modal["data"]["custom_id"] == f"open_msg:{CHANNEL}:{message_id}"
    assert _inputs(modal)["text"]["value"] == "Принтер на 3 этаже жуёт бумагу"

    submit = modal_data(modal["data"]["custom_id"], title="", text="Принтер на 3 этаже жуёт бумагу")
    answer = await discord_app.answer(interaction(5, submit, who=member("2001", AGENT_ROLE)))
    assert answer["data"]["content"].startswith("Заявка #1 открыта")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT t.source_url, s.slug FROM tickets t JOIN services s ON s.id = t.service_id"
        ).fetchone()
    # The message's channel is the IT service's: the ticket goes there, linked to the message.
    assert row == (f"https://discord.com/channels/{GUILD}/{CHANNEL}/{message_id}", "it")


async def test_unknown_commands_are_refused(discord_app: Discord) -> None:
    answer = await discord_app.answer(interaction(2, {"name": "nope"}, locale="en-US"))
    assert answer["data"]["content"] == "Unknown command."
    answer = await discord_app.answer(interaction(5, modal_data("what:ever", text="x")))
    assert answer["data"]["content"] == "Неизвестная команда."


def test_sync_commands_overwrites_the_guild_commands(discord_app: Discord, monkeypatch) -> None:
    for name, value in {
        "DATABASE_URL": discord_app.settings.database_url,
        "DISCORD_API_BASE_URL": discord_app.api.base_url,
        "DISCORD_BOT_TOKEN": discord_app.settings.discord_bot_token.get_secret_value(),
        "DISCORD_APPLICATION_ID": APPLICATION_ID,
        "DISCORD_GUILD_ID": GUILD,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert main(["discord", "sync-commands"]) == 0
    finally:
        get_settings.cache_clear()
    [put] = discord_app.api.of("PUT")
    assert put.path == f"/api/v10/applications/{APPLICATION_ID}/guilds/{GUILD}/commands"
    assert put.headers["User-Agent"] == "DiscordBot (https://1440.test, 1.0)"
    by_name = {c["name"]: c for c in put.body}
    assert set(by_name) == {"ticket", "tickets", "Create ticket"}
    assert by_name["ticket"]["name_localizations"] == {"ru": "заявка"}
    assert by_name["tickets"]["name_localizations"] == {"ru": "заявки"}
    assert by_name["Create ticket"]["type"] == 3
    assert by_name["Create ticket"]["name_localizations"] == {"ru": "Создать заявку"}
    options = {o["name"]: o for o in by_name["ticket"]["options"]}
    assert options["service"]["autocomplete"] is True
    assert [c["value"] for c in options["priority"]["choices"]] == [
        "low",
        "normal",
        "high",
        "urgent",
    ]


def test_sync_commands_says_what_is_missing(monkeypatch, capsys) -> None:
    monkeypatch.setenv("DISCORD_APPLICATION_ID", "")
    monkeypatch.setenv("DISCORD_BOT_TOKEN", "")
    get_settings.cache_clear()
    try:
        assert main(["discord", "sync-commands"]) == 2
    finally:
        get_settings.cache_clear()
    assert "DISCORD_APPLICATION_ID" in capsys.readouterr().err
