"""A change of a ticket and its history rows are written by one statement (events.write):
what the history shows, in order, with the ticket's row as PostgreSQL has it."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.statements import watch_sql, writes
from tests.tickets.conftest import People
from tests.tickets.helpers import change_v1, events


async def test_a_new_ticket_and_its_opened_event_are_one_statement(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    sql = watch_sql(app)
    opened = await client.post(
        "/api/v1/tickets", json={"text": "Сканер\nне сканирует"}, headers=people.author.headers
    )
    assert opened.status_code == 201, opened.text
    [write] = writes(sql)
    assert "INSERT INTO tickets" in write
    assert "INSERT INTO ticket_events" in write

    ticket = opened.json()
    assert (ticket["title"], ticket["status"], ticket["version"]) == ("Сканер", "open", 1)
    assert ticket["number"] > 0
    [opened_event] = await events(client, people.author.headers, ticket["guid_ticket"])
    assert opened_event["kind"] == "opened"
    assert opened_event["created_at"] == ticket["created_at"]  # one transaction, one now()


async def test_taking_a_ticket_writes_it_and_both_events_in_their_order(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    opened = await client.post(
        "/api/v1/tickets", json={"text": "Мышь"}, headers=people.author.headers
    )
    guid = opened.json()["guid_ticket"]
    sql = watch_sql(app)
    taken = await change_v1(client, people.agent.headers, guid, "processing")
    assert taken.status_code == 200, taken.text
    [write] = writes(sql)
    assert write.count("INSERT INTO ticket_events") == 2
    assert "UPDATE tickets" in write

    ticket = taken.json()
    assert (ticket["status"], ticket["assignee"], ticket["version"]) == (
        "processing",
        people.agent.discord_id,
        2,  # status and assignee in one UPDATE: the version moves by one
    )
    assert taken.headers["ETag"] == '"2"'
    kinds = [e["kind"] for e in await events(client, people.agent.headers, guid)]
    assert kinds == ["opened", "assigned", "status_changed"]

    # Written as a flush leaves it: the next change reads version 2 and moves it to 3.
    back = await change_v1(client, people.agent.headers, guid, "closed_success", version=2)
    assert back.status_code == 200, back.text
    assert back.json()["version"] == 3


async def test_a_reply_moves_the_version_once_and_a_note_not_at_all(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    # The author's reply ends `waiting`: the count, the status and its event in one UPDATE,
    # then the reply's own event, which leaves the ticket's row alone.
    opened = await client.post(
        "/api/v1/tickets", json={"text": "Клавиатура"}, headers=people.author.headers
    )
    guid = opened.json()["guid_ticket"]
    for status in ("processing", "waiting"):
        moved = await change_v1(client, people.agent.headers, guid, status)
        assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == 3
    sql = watch_sql(app)
    reply = await client.post(
        f"/api/v1/tickets/{guid}/comments", json={"body": "Вот фото"}, headers=people.author.headers
    )
    assert reply.status_code == 201, reply.text
    ticket = (await client.get(f"/api/v1/tickets/{guid}", headers=people.author.headers)).json()
    assert (ticket["status"], ticket["comments"], ticket["version"]) == ("processing", 1, 4)
    history = await events(client, people.author.headers, guid)
    assert [e["kind"] for e in history][-2:] == ["status_changed", "commented"]
    assert sum("UPDATE tickets" in s for s in sql) == 1

    note = await client.post(
        f"/api/v1/tickets/{guid}/comments",
        json={"body": "Проверить драйвер", "internal": True},
        headers=people.agent.headers,
    )
    assert note.status_code == 201, note.text
    after = (await client.get(f"/api/v1/tickets/{guid}", headers=people.author.headers)).json()
    assert (after["version"], after["updated_at"]) == (4, ticket["updated_at"])
    staff_history = await events(client, people.agent.headers, guid)
    assert staff_history[-1]["kind"] == "noted"
