"""Who hears about what: every channel at once, per-service overrides, nothing configured."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    MailSink,
    add_service,
    all_sent_once,
    bodies,
    changed,
    deliver_jobs,
    person,
    posts,
    receive,
    smtp_server,
    smtp_settings,
)
from ticket_service.users.models import Role

AUTHOR = "author@1440.test"
TEAM = "it-team@1440.test"
API = "/api/v10"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


async def test_each_channel_gets_exactly_one_message_per_event(
    build, database_url, httpserver, smtp
):
    sink, port = smtp
    httpserver.expect_request(f"{API}/users/@me/channels", method="POST").respond_with_json(
        {"id": "555"}
    )
    receive(httpserver, f"{API}/channels/555/messages", reply={"id": "1"})
    app, client, settings = await build(
        **smtp_settings(port),
        slack_webhook_url=receive(httpserver, "/slack"),
        discord_webhook_url=receive(httpserver, "/discord"),
        discord_bot_token="bot",
        webhook_urls=[receive(httpserver, "/hook/1"), receive(httpserver, "/hook/2")],
        webhook_secret="s",
    )
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM])
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, service="it")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    per_path = Counter(req.path for req, _ in httpserver.log)
    assert per_path == {
        "/slack": 2,
        "/discord": 2,
        # Integrations hear of every event: opened, assigned (the agent took it), changed.
        "/hook/1": 3,
        "/hook/2": 3,
        f"{API}/users/@me/channels": 1,  # the author hears only of the agent's change
        f"{API}/channels/555/messages": 1,
    }
    assert len(sink.to(TEAM)) == 2
    assert len(sink.to(AUTHOR)) == 1
    assert len(sink.messages) == 3
    rows = deliveries(database_url)
    # opened: slack, discord, 2 webhooks, team mail; assigned: 2 webhooks (the agent who
    # took it is not told of it); changed: the team's 5 + author mail + DM
    assert len(rows) == 5 + 2 + 7
    assert all_sent_once(rows)
    assert deliver_jobs(database_url) == []  # the rows are the queue
    httpserver.check_assertions()


async def test_a_service_with_its_own_slack_and_discord_uses_them_instead(
    build, database_url, httpserver
):
    global_slack, global_discord = (
        receive(httpserver, "/slack/global"),
        receive(httpserver, "/discord/global"),
    )
    it_slack, it_discord = receive(httpserver, "/slack/it"), receive(httpserver, "/discord/it")
    app, client, settings = await build(
        slack_webhook_url=global_slack, discord_webhook_url=global_discord
    )
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(
        client, admin, "it", "IT", slack_webhook_url=it_slack, discord_webhook_url=it_discord
    )
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)

    it_ticket = await open_ticket(client, author, "Ноутбук", service="it")
    general_ticket = await open_ticket(client, author, "Пропуск")
    await changed(client, agent, it_ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    assert [b["text"] for b in bodies(httpserver, "/slack/it")] == [
        f"Новая заявка #{it_ticket['number']}: Ноутбук",
        f"Заявка #{it_ticket['number']}: Открыта → В работе",
    ]
    assert [b["text"] for b in bodies(httpserver, "/slack/global")] == [
        f"Новая заявка #{general_ticket['number']}: Пропуск"
    ]
    assert len(posts(httpserver, "/discord/it")) == 2
    assert [b["embeds"][0]["title"] for b in bodies(httpserver, "/discord/global")] == [
        f"Новая заявка #{general_ticket['number']}: Пропуск"
    ]
    assert all_sent_once(deliveries(database_url))


class Overridden(NamedTuple):
    """A global Slack webhook, and service `it` with one of its own."""

    client: Any
    settings: Any
    admin: dict[str, str]
    author: dict[str, str]


@pytest.fixture
async def overridden(build, database_url, httpserver) -> Overridden:
    global_slack, it_slack = receive(httpserver, "/slack/global"), receive(httpserver, "/slack/it")
    app, client, settings = await build(slack_webhook_url=global_slack)
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", slack_webhook_url=it_slack)
    return Overridden(client, settings, admin, await person(app, database_url, "1001"))


async def test_removing_a_service_override_falls_back_to_the_global_webhook(
    overridden, database_url, httpserver
):
    client, settings, admin, author = overridden
    await open_ticket(client, author, service="it")
    await run_worker_until_idle(settings)

    removed = await client.patch(
        "/api/v1/services/it", json={"slack_webhook_url": None}, headers=admin
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["has_slack_webhook"] is False
    await open_ticket(client, author, service="it")
    await run_worker_until_idle(settings)

    assert len(posts(httpserver, "/slack/it")) == 1
    assert len(posts(httpserver, "/slack/global")) == 1
    assert all_sent_once(deliveries(database_url))


async def test_webhook_urls_are_never_shown_back(build, database_url, httpserver):
    it_slack = "https://hooks.slack.example/services/T9/B9/very-secret"
    it_discord = "https://discord.example/api/webhooks/9/also-secret"
    app, client, _ = await build(
        slack_webhook_url=receive(httpserver, "/slack/global-secret"),
        # Names nothing resolves (no DNS in tests): allowed by name, as an operator could.
        outbound_allowed_hosts=["127.0.0.1", "hooks.slack.example", "discord.example"],
    )
    admin = await person(app, database_url, "3001", Role.admin)
    employee = await person(app, database_url, "1001")
    patched = await add_service(
        client, admin, "it", "IT", slack_webhook_url=it_slack, discord_webhook_url=it_discord
    )
    await open_ticket(client, employee, service="it")
    await open_ticket(client, employee)

    for headers in (admin, employee):
        response = await client.get("/api/v1/services", headers=headers)
        assert response.status_code == 200
        listed = {s["slug"]: s for s in response.json()["items"]}
        assert (listed["it"]["has_slack_webhook"], listed["it"]["has_discord_webhook"]) == (
            True,
            True,
        )
        assert listed["general"]["has_slack_webhook"] is False
        assert "webhook_url" not in response.text
        assert "secret" not in response.text
    assert "secret" not in str(patched)
    admin_view = await client.get("/api/v1/admin/deliveries", headers=admin)
    assert admin_view.status_code == 200
    assert len(admin_view.json()["items"]) == 3  # it: slack + discord; general: global slack
    assert "secret" not in admin_view.text


async def test_nothing_configured_means_no_deliveries_and_no_jobs(build, database_url):
    app, client, _ = await build()  # no SMTP, Slack, Discord or webhooks
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM])
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, service="it")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await changed(client, author, ticket["guid_ticket"], "closed_fail")

    events = await client.get(f"/api/v1/tickets/{ticket['guid_ticket']}/events", headers=author)
    assert len(events.json()["items"]) == 4  # the changes (a take assigns) happened ...
    assert deliveries(database_url) == []  # ... and nobody was to be told
    assert deliver_jobs(database_url) == []


async def test_a_change_of_an_existing_ticket_follows_its_service_override_at_once(
    overridden, database_url, httpserver
):
    # The override is read with each change: removing it applies to the very next change
    # of a ticket opened under it.
    client, settings, admin, author = overridden
    ticket = await open_ticket(client, author, service="it")
    status = f"/api/v1/tickets/{ticket['guid_ticket']}/status"
    withdrawn = await client.post(status, json={"status": "closed_fail"}, headers=author)
    assert withdrawn.status_code == 200, withdrawn.text
    await run_worker_until_idle(settings)
    assert len(posts(httpserver, "/slack/it")) == 2  # opened, withdrawn

    removed = await client.patch(
        "/api/v1/services/it", json={"slack_webhook_url": None}, headers=admin
    )
    assert removed.status_code == 200, removed.text
    reopened = await client.post(status, json={"status": "open"}, headers=author)
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["service"] == "it"
    await run_worker_until_idle(settings)

    assert len(posts(httpserver, "/slack/it")) == 2
    assert len(posts(httpserver, "/slack/global")) == 1
    assert all_sent_once(deliveries(database_url))
