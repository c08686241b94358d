"""Ticket cards in the service's channel: posted on open, edited on every change from any
front door, buttons as the workflow allows; the status buttons and their refusals."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import psycopg

from tests.discord.conftest import AGENT_ROLE, CHANNEL, Discord, interaction, member, modal_data
from tests.factories import auth_headers, open_ticket
from tests.sla.conftest import set_sla, time_passes
from tests.tickets.conftest import Person
from ticket_service.users.models import Role

CARD_POSTS = rf"/channels/{CHANNEL}/messages$"
CARD_EDITS = rf"/channels/{CHANNEL}/messages/\d+$"


async def _with_channel(d: Discord) -> dict[str, str]:
    admin = await auth_headers(d.app, "3001", Role.admin)
    r = await d.client.patch(
        "/api/v1/services/general", json={"discord_channel_id": CHANNEL}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["discord_channel_id"] == CHANNEL
    return admin


def _buttons(payload: dict) -> list[str]:
    return [
        b["custom_id"].split(":")[1] for row in payload["components"] for b in row["components"]
    ]


def _fields(payload: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in payload["embeds"][0]["fields"]}


async def _press(d: Discord, action: str, guid: str, who: dict, locale: str = "ru") -> dict:
    data = {"custom_id": f"ticket:{action}:{guid}", "component_type": 2}
    return await d.answer(interaction(3, data, who=who, locale=locale))


async def test_the_channel_id_must_be_a_snowflake(discord_app: Discord) -> None:
    admin = await auth_headers(discord_app.app, "3001", Role.admin)
    for bad in ("general", "123", "-1", "1" * 21):
        r = await discord_app.client.patch(
            "/api/v1/services/general", json={"discord_channel_id": bad}, headers=admin
        )
        assert r.status_code == 422, bad
    agent = await auth_headers(discord_app.app, "2001", Role.agent)
    r = await discord_app.client.patch(
        "/api/v1/services/general", json={"discord_channel_id": CHANNEL}, headers=agent
    )
    assert r.status_code == 403
    await _with_channel(discord_app)
    r = await discord_app.client.patch(
        "/api/v1/services/general", json={"discord_channel_id": None}, headers=admin
    )
    assert r.json()["discord_channel_id"] is None


async def test_a_card_is_posted_on_open_and_edited_after_each_change(
    discord_app: Discord, database_url: str
) -> None:
    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    ticket = await open_ticket(d.client, author, "Не печатает принтер", priority="high")
    guid = ticket["guid_ticket"]
    await d.run_jobs()

    [post] = d.api.of("POST", CARD_POSTS)
    assert post.headers["User-Agent"] == "DiscordBot (https://1440.test, 1.0)"
    card = post.body
    assert card["embeds"][0]["title"] == f"#{ticket['number']}: Не печатает принтер"
    assert card["embeds"][0]["url"] == f"https://tickets.1440.test/tickets/{guid}"
    fields = _fields(card)
    assert fields["Статус"] == "Открыта"
    assert fields["Приоритет"] == "Высокий"
    assert fields["Исполнитель"] == "никто"
    assert fields["Автор"].startswith("<@1001>")
    assert card["allowed_mentions"] == {"parse": []}
    assert _buttons(card) == ["claim", "processing", "close_success", "close_fail", "reply", "note"]
    assert all(
        b["custom_id"].endswith(f":{guid}") for row in card["components"] for b in row["components"]
    )

    # A change through the REST API edits the same message.
    r = await d.client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "processing"}, headers=agent
    )
    assert r.status_code == 200
    await d.run_jobs()
    [edit] = d.api.of("PATCH", CARD_EDITS)
    assert edit.path.endswith(f"/messages/{next(iter(d.api.messages))}")
    assert _fields(edit.body)["Статус"] == "В работе"
    assert _fields(edit.body)["Исполнитель"].startswith("<@2001>")
    assert _buttons(edit.body) == ["waiting", "close_success", "close_fail", "reply", "note"]
    assert len(d.api.of("POST", CARD_POSTS)) == 1

    r = await d.client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "closed_success"}, headers=agent
    )
    await d.run_jobs()
    last = d.api.of("PATCH", CARD_EDITS)[-1].body
    assert _fields(last)["Статус"] == "Выполнена"
    assert _buttons(last) == []
    with psycopg.connect(database_url) as conn:
        [(message_id,)] = conn.execute("SELECT message_id FROM discord_cards").fetchall()
    assert message_id in d.api.messages


async def test_several_changes_make_one_edit(discord_app: Discord) -> None:
    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    await d.run_jobs()
    for status in ("processing", "waiting", "processing"):
        r = await d.client.post(
            f"/api/v1/tickets/{guid}/status", json={"status": status}, headers=agent
        )
        assert r.status_code == 200, r.text
    await d.run_jobs()
    [edit] = d.api.of("PATCH", CARD_EDITS)
    assert _fields(edit.body)["Статус"] == "В работе"


async def test_no_card_without_a_channel(discord_app: Discord) -> None:
    author = await auth_headers(discord_app.app, "1001")
    await open_ticket(discord_app.client, author)
    await discord_app.run_jobs()
    assert discord_app.api.of("POST", CARD_POSTS) == []


async def test_a_deleted_card_is_posted_again(discord_app: Discord) -> None:
    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    await d.run_jobs()
    d.api.messages.clear()  # somebody deleted it in Discord
    await d.client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "processing"}, headers=agent
    )
    await d.run_jobs()
    assert len(d.api.of("PATCH", CARD_EDITS)) == 1
    assert len(d.api.of("POST", CARD_POSTS)) == 2


async def test_an_agent_moves_the_ticket_with_a_button(discord_app: Discord) -> None:
    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    await d.run_jobs()

    answer = await _press(d, "processing", guid, member("2001", AGENT_ROLE))
    assert answer == {"type": 6}  # acknowledged; the card is edited by its job
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "processing"
    assert ticket["assignee"] == "2001"
    await d.run_jobs()
    assert _fields(d.api.of("PATCH", CARD_EDITS)[-1].body)["Статус"] == "В работе"

    assert await _press(d, "waiting", guid, member("2001", AGENT_ROLE)) == {"type": 6}
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "waiting"


async def test_an_employee_pressing_a_staff_button_is_refused(discord_app: Discord) -> None:
    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    for who, locale, expected in (
        (member("1001"), "ru", "Это может сделать только сотрудник службы."),
        (member("1002"), "en-US", "No such ticket, or it is not visible to you."),
    ):
        answer = await _press(d, "processing", guid, who, locale)
        assert answer["type"] == 4
        assert answer["data"]["flags"] == 64
        assert answer["data"]["content"] == expected
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "open"


async def test_a_move_the_workflow_does_not_allow_is_refused(discord_app: Discord) -> None:
    author = await auth_headers(discord_app.app, "1001")
    guid = (await open_ticket(discord_app.client, author))["guid_ticket"]
    answer = await _press(discord_app, "waiting", guid, member("2001", AGENT_ROLE))
    assert answer["data"]["content"] == "Из текущего статуса заявку так перевести нельзя."


async def test_close_fail_asks_for_a_reason(discord_app: Discord, database_url: str) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    # Someone who may not close it gets no modal, only the refusal.
    refused = await _press(d, "close_fail", guid, member("1002"))
    assert refused["type"] == 4

    modal = await _press(d, "close_fail", guid, member("2001", AGENT_ROLE))
    assert modal["type"] == 9
    assert modal["data"]["custom_id"] == f"reason:close_fail:{guid}"
    submit = modal_data(modal["data"]["custom_id"], reason="Дубликат #12")
    answer = await d.answer(interaction(5, submit, who=member("2001", AGENT_ROLE)))
    assert answer == {"type": 6}
    agent = await auth_headers(d.app, "2001", Role.agent)
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=agent)).json()
    assert ticket["status"] == "closed_fail"
    with psycopg.connect(database_url) as conn:
        [(data,)] = conn.execute(
            "SELECT data FROM ticket_events WHERE kind = 'status_changed'"
        ).fetchall()
    assert data == {"reason": "Дубликат #12"}


async def test_two_agents_pressing_at_once_one_wins(discord_app: Discord) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    answers = await asyncio.gather(
        _press(d, "processing", guid, member("2001", AGENT_ROLE)),
        _press(d, "processing", guid, member("2002", AGENT_ROLE)),
    )
    acknowledged = [a for a in answers if a == {"type": 6}]
    refused = [a for a in answers if a["type"] == 4]
    assert len(acknowledged) == 1
    assert len(refused) == 1
    assert refused[0]["data"]["flags"] == 64
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "processing"
    assert ticket["assignee"] in ("2001", "2002")


async def test_the_card_job_reads_the_ticket_when_it_runs(discord_app: Discord) -> None:
    from ticket_service.integrations.discord.tasks import refresh_card
    from ticket_service.worker.resources import open_resources

    d = discord_app
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    await d.run_jobs()
    async with open_resources(d.settings) as resources:
        # Nothing changed since the card was posted: nothing is sent.
        assert await refresh_card(resources, uuid.UUID(guid)) == "unchanged"
        assert await refresh_card(resources, uuid.uuid4()) == "gone"
    assert len(d.api.calls) == 1


async def test_a_card_discord_refuses_is_given_up(make_discord, database_url: str) -> None:
    d: Discord = await make_discord(discord_bot_token="not-the-bot's-token")
    await _with_channel(d)
    author = await auth_headers(d.app, "1001")
    await open_ticket(d.client, author)
    await d.run_jobs()
    assert len(d.api.of("POST", CARD_POSTS)) == 1  # 401: tried once, not retried
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM discord_cards").fetchone() == (0,)
        [(status,)] = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE task_name = 'discord_card'"
        ).fetchall()
    assert status == "succeeded"  # the job ended: an admin fixes the token or channel


async def test_a_card_post_waits_out_a_429(discord_app: Discord) -> None:
    d = discord_app
    await _with_channel(d)
    d.api.throttle(0.3)
    author = await auth_headers(d.app, "1001")
    await open_ticket(d.client, author)
    await d.run_jobs()
    first, second = d.api.of("POST", CARD_POSTS)
    assert second.at - first.at >= 0.3
    assert len(d.api.messages) == 1


def test_a_long_rate_limit_retries_the_job_when_discord_says() -> None:
    from types import SimpleNamespace

    from ticket_service.integrations.discord.tasks import MAX_ATTEMPTS, AsDiscordSays
    from ticket_service.kit.discord_rest import DiscordError, RateLimited

    strategy = AsDiscordSays()
    job = SimpleNamespace(attempts=1)
    decision = strategy.get_retry_decision(exception=RateLimited(42.5), job=job)
    assert decision is not None
    later = strategy.get_retry_decision(exception=DiscordError("HTTP 502", 502), job=job)
    assert later is not None
    done = SimpleNamespace(attempts=MAX_ATTEMPTS)
    assert strategy.get_retry_decision(exception=RateLimited(1), job=done) is None


async def test_the_card_shows_the_sla_due_and_what_was_missed(
    discord_app: Discord, database_url: str
) -> None:
    d = discord_app
    admin = await _with_channel(d)
    await set_sla(d.client, Person("3001", admin), first=60, resolution=600)
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    ticket = await open_ticket(d.client, author, "Нет доступа к 1С")
    guid = ticket["guid_ticket"]
    await d.run_jobs()
    [post] = d.api.of("POST", CARD_POSTS)
    # The first response is due first; Discord shows the instant in each reader's zone.
    due = ticket["sla"]["first_response_due_at"]
    stamp = int(datetime.fromisoformat(due).timestamp())
    assert _fields(post.body)["SLA"] == f"срок <t:{stamp}:f> (<t:{stamp}:R>)"

    time_passes(database_url, guid, 61 * 60)  # an hour and a minute without an answer
    for status in ("processing", "waiting"):  # answered late, then waiting for the author
        r = await d.client.post(
            f"/api/v1/tickets/{guid}/status", json={"status": status}, headers=agent
        )
        assert r.status_code == 200, r.text
    await d.run_jobs()
    line = _fields(d.api.of("PATCH", CARD_EDITS)[-1].body)["SLA"]
    assert line == "нарушен: первый ответ; на паузе: ждём автора"
