"""Following a ticket: who may, and that followers hear about what happens to it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.assignment.conftest import ids, put_on_team
from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    MailSink,
    all_sent_once,
    changed,
    person,
    posts,
    smtp_server,
    smtp_settings,
)
from ticket_service.users.models import Role

API = "/api/v10"


async def follow(client, headers, guid, method="PUT"):
    return await client.request(method, f"/api/v1/tickets/{guid}/followers/me", headers=headers)


async def test_who_may_follow(client, crew):
    general = (await open_ticket(client, crew.author, "Стул"))["guid_ticket"]
    agents_own_it = (await open_ticket(client, crew.general_agent, "Ноутбук", service="it"))[
        "guid_ticket"
    ]
    cases = [
        # An employee, on their own ticket: not its staff. On another's: it does not exist.
        (crew.author, general, 403, "staff_only"),
        (crew.other, general, 404, "ticket_not_found"),
        # Another team's agent cannot see it.
        (crew.it_agent, general, 404, "ticket_not_found"),
        # An agent who opened a ticket with another service is only its author there.
        (crew.general_agent, agents_own_it, 403, "staff_only"),
        # The team, an admin (on no team).
        (crew.general_agent, general, 204, None),
        (crew.admin, general, 204, None),
        (crew.admin, agents_own_it, 204, None),
    ]
    for headers, guid, status, code in cases:
        response = await follow(client, headers, guid)
        assert response.status_code == status, response.text
        if code:
            assert response.json()["error"]["code"] == code
    # Following twice is following once; following is listed with `follower=me`.
    assert (await follow(client, crew.general_agent, general)).status_code == 204
    assert await ids(client, crew.general_agent, follower="me") == [general]
    assert await ids(client, crew.admin, follower="me") == [agents_own_it, general]

    # The assignee outside the team may follow too.
    await put_on_team(client, crew.admin, "general", "2201")
    r = await client.post(
        f"/api/v1/tickets/{general}/assign", json={"assignee": "2201"}, headers=crew.admin
    )
    assert r.status_code == 200, r.text
    await client.delete("/api/v1/services/general/agents/2201", headers=crew.admin)
    assert (await follow(client, crew.loose_agent, general)).status_code == 204

    # Unfollowing: idempotent, for whoever sees the ticket.
    for _ in range(2):
        assert (await follow(client, crew.general_agent, general, "DELETE")).status_code == 204
    assert await ids(client, crew.general_agent, follower="me") == []
    assert (await follow(client, crew.author, general, "DELETE")).status_code == 204
    assert (await follow(client, crew.it_agent, general, "DELETE")).status_code == 404
    bad = await follow(client, crew.admin, "not-a-uuid")
    assert bad.status_code == 422


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


async def test_a_follower_hears_of_a_status_change(build, database_url, httpserver, smtp):
    """By e-mail and Discord DM, in their own language; after unfollowing, no more."""
    sink, port = smtp
    httpserver.expect_request(f"{API}/users/@me/channels", method="POST").respond_with_json(
        {"id": "555", "type": 1}
    )
    httpserver.expect_request(f"{API}/channels/555/messages", method="POST").respond_with_json(
        {"id": "1", "channel_id": "555"}
    )
    app, client, settings = await build(**smtp_settings(port), discord_bot_token="bot")
    author = await person(app, database_url, "1001")  # no e-mail address, DMs off below
    worker = await person(app, database_url, "2001", Role.agent)
    watcher = await person(app, database_url, "2002", Role.agent, email_address="w@1440.test")
    r = await client.patch("/api/v1/me/notifications", json={"discord": False}, headers=author)
    assert r.status_code == 200, r.text

    ticket = await open_ticket(client, author)
    guid = ticket["guid_ticket"]
    assert (await follow(client, watcher, guid)).status_code == 204
    await changed(client, worker, guid, "processing")
    await run_worker_until_idle(settings)

    subjects = sorted(m["Subject"] for m in sink.to("w@1440.test"))
    number = ticket["number"]
    assert subjects == [
        f"Заявка #{number} назначена: user2001",
        f"Заявка #{number}: Открыта → В работе",
    ], subjects
    opened = [json.loads(r.get_data()) for r in posts(httpserver, f"{API}/users/@me/channels")]
    # The follower hears of the assignment and of the status change (the worker who took
    # it hears of neither: their own doing).
    assert {o["recipient_id"] for o in opened} == {"2002"}
    rows = deliveries(database_url)
    personal = sorted(
        (r["channel"], r["recipient"]) for r in rows if r["channel"] in ("email", "discord_dm")
    )
    assert personal == [
        ("discord_dm", "2002"),
        ("discord_dm", "2002"),
        ("email", "w@1440.test"),
        ("email", "w@1440.test"),
    ]
    assert all_sent_once(rows)

    assert (await follow(client, watcher, guid, "DELETE")).status_code == 204
    await changed(client, worker, guid, "closed_success")
    await run_worker_until_idle(settings)
    assert len(sink.to("w@1440.test")) == 2
