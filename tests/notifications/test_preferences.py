"""Everyone chooses their personal channels: GET/PATCH /api/v1/me/notifications."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.factories import open_ticket
from tests.notifications.conftest import run_worker_until_idle
from tests.notifications.receivers import (
    MailSink,
    add_service,
    changed,
    person,
    posts,
    smtp_server,
    smtp_settings,
)
from ticket_service.users.models import Role

AUTHOR = "author@1440.test"
TEAM = "it-team@1440.test"
API = "/api/v10"
ME = "/api/v1/me/notifications"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


async def test_settings_default_on_and_can_be_changed_one_at_a_time(build, database_url):
    app, client, _ = await build()
    me = await person(app, database_url, "1001")
    other = await person(app, database_url, "1002")

    assert (await client.get(ME, headers=me)).json() == {"email": True, "discord": True}

    response = await client.patch(ME, json={"email": False}, headers=me)
    assert response.status_code == 200
    assert response.json() == {"email": False, "discord": True}
    response = await client.patch(ME, json={"discord": False}, headers=me)
    assert response.json() == {"email": False, "discord": False}
    response = await client.patch(ME, json={}, headers=me)
    assert response.json() == {"email": False, "discord": False}
    response = await client.patch(ME, json={"email": True}, headers=me)
    assert response.json() == {"email": True, "discord": False}

    assert (await client.get(ME, headers=me)).json() == {"email": True, "discord": False}
    # Someone else's settings are theirs alone.
    assert (await client.get(ME, headers=other)).json() == {"email": True, "discord": True}


async def test_settings_need_a_token(build):
    _, client, _ = await build()
    for response in (
        await client.get(ME),
        await client.patch(ME, json={"email": False}),
        await client.get(ME, headers={"Authorization": "Bearer not-a-token"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    "body",
    [{"email": "sometimes"}, {"sms": True}, {"email": [True]}, ["email"], "off"],
)
async def test_settings_refuse_a_bad_body(build, database_url, body):
    app, client, _ = await build()
    me = await person(app, database_url, "1001")

    headers = {**me, "Content-Type": "application/json"}
    response = await client.patch(ME, content=json.dumps(body), headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert (await client.get(ME, headers=me)).json() == {"email": True, "discord": True}


async def test_an_author_who_opted_out_of_email_gets_none(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM])
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)
    opted = await client.patch(ME, json={"email": False}, headers=author)
    assert opted.status_code == 200

    ticket = await open_ticket(client, author, service="it")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await changed(client, agent, ticket["guid_ticket"], "closed_success")
    await run_worker_until_idle(settings)

    assert sink.to(AUTHOR) == []
    assert len(sink.to(TEAM)) == 3  # the team list is not personal: it still hears

    # Opting back in takes effect for the next change.
    await client.patch(ME, json={"email": True}, headers=author)
    await changed(client, agent, ticket["guid_ticket"], "open")
    await run_worker_until_idle(settings)
    [mail] = sink.to(AUTHOR)
    assert mail["Subject"] == f"Заявка #{ticket['number']}: Выполнена → Открыта"


async def test_an_author_who_opted_out_of_discord_gets_no_direct_message(
    build, database_url, httpserver, smtp
):
    sink, port = smtp
    httpserver.expect_request(f"{API}/users/@me/channels", method="POST").respond_with_json(
        {"id": "555"}
    )
    httpserver.expect_request(f"{API}/channels/555/messages", method="POST").respond_with_json(
        {"id": "1"}
    )
    app, client, settings = await build(**smtp_settings(port), discord_bot_token="bot")
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)
    assert (await client.patch(ME, json={"discord": False}, headers=author)).status_code == 200

    ticket = await open_ticket(client, author)
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    assert posts(httpserver, f"{API}/users/@me/channels") == []
    assert posts(httpserver, f"{API}/channels/555/messages") == []
    assert len(sink.to(AUTHOR)) == 1  # e-mail is a separate choice and still on
