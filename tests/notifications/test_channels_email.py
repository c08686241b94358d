"""E-mail over SMTP to a real aiosmtpd server on 127.0.0.1, driven by the real worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.discord_stub import DiscordStub, login
from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    PUBLIC_URL,
    MailSink,
    add_service,
    all_sent_once,
    changed,
    deliver_jobs,
    parts,
    person,
    smtp_server,
    smtp_settings,
)
from ticket_service.users.models import Role

AUTHOR = "author@1440.test"
TEAM = "it-team@1440.test"


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


async def test_author_signed_in_with_discord_is_mailed_each_change_an_agent_makes(
    build, database_url, smtp, discord
):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port), public_url=PUBLIC_URL)
    stub = DiscordStub(discord)
    pair = await login(client, stub.user("1001", "alice", email="Alice@1440.test"))
    author = {"Authorization": f"Bearer {pair['access_token']}"}
    agent = await person(app, database_url, "2001", Role.agent, display_name="Boris")

    ticket = await open_ticket(client, author, "Не работает VPN\nС утра не подключается")
    guid, number = ticket["guid_ticket"], ticket["number"]
    await changed(client, agent, guid, "processing")
    await changed(client, agent, guid, "closed_success")
    await run_worker_until_idle(settings)

    mails = sink.to("alice@1440.test")
    assert [m["Subject"] for m in mails] == [
        f"Заявка #{number}: Открыта → В работе",
        f"Заявка #{number}: В работе → Выполнена",
    ]
    assert len(sink.messages) == 2  # opening the ticket mailed nobody
    first = mails[0]
    assert first["From"] == "tickets@1440.test"
    assert first["To"] == "alice@1440.test"
    body = parts(first)
    assert set(body) == {"text/plain", "text/html"}
    link = f"{PUBLIC_URL}/api/v1/tickets/{guid}"
    assert "Статус: Открыта → В работе" in body["text/plain"]
    assert "Кто: Boris" in body["text/plain"]
    assert "С утра не подключается" in body["text/plain"]
    assert f"Открыть: {link}" in body["text/plain"]
    assert f'<a href="{link}">' in body["text/html"]
    assert "В работе" in body["text/html"]

    rows = deliveries(database_url)
    assert all_sent_once(rows)
    assert [(r["channel"], r["recipient"]) for r in rows] == [("email", "alice@1440.test")] * 2
    # The Message-ID names the delivery: a copy re-sent after a crash is the same message.
    assert [m["Message-ID"] for m in mails] == [f"<delivery-{r['id']}@1440.test>" for r in rows]
    assert [m["X-Ticket-Event-Id"] for m in mails] == [str(r["event_id"]) for r in rows]


async def test_english_locale_speaks_english(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port), notify_locale="en")
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, "Printer <b>jammed</b> & offline")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    [mail] = sink.to(AUTHOR)
    assert mail["Subject"] == f"Ticket #{ticket['number']}: Open → In progress"
    body = parts(mail)
    assert "Status: Open → In progress" in body["text/plain"]
    assert "By: user2001" in body["text/plain"]
    assert "Printer <b>jammed</b> & offline" in body["text/plain"]
    assert "Статус" not in body["text/plain"]
    assert "<b>In progress</b>" in body["text/html"]
    # What the employee typed is shown, not interpreted, in the HTML part.
    assert "Printer &lt;b&gt;jammed&lt;/b&gt; &amp; offline" in body["text/html"]


async def test_the_author_is_not_mailed_about_own_changes(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author)
    guid = ticket["guid_ticket"]
    await changed(client, author, guid, "closed_fail")  # withdrawn by the author
    await changed(client, agent, guid, "open")  # reopened by an agent
    await run_worker_until_idle(settings)

    [mail] = sink.to(AUTHOR)
    assert mail["Subject"] == f"Заявка #{ticket['number']}: Закрыта без решения → Открыта"
    assert len(sink.messages) == 1


async def test_an_unverified_address_is_never_mailed(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    author = await person(app, database_url, "1001", email_address=AUTHOR, verified=False)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author)
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    assert sink.messages == []
    assert deliveries(database_url) == []
    assert deliver_jobs(database_url) == []


async def test_the_service_list_hears_of_new_tickets_and_changes(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM, "Helpdesk@1440.test"])
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, "Нужен ноутбук", service="it")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await run_worker_until_idle(settings)

    number = ticket["number"]
    opened = f"Новая заявка #{number}: Нужен ноутбук"
    moved = f"Заявка #{number}: Открыта → В работе"
    assert [m["Subject"] for m in sink.to(TEAM)] == [opened, moved]
    assert [m["Subject"] for m in sink.to("helpdesk@1440.test")] == [opened, moved]
    assert [m["Subject"] for m in sink.to(AUTHOR)] == [moved]  # not told of own new ticket
    assert len(sink.messages) == 5
    assert all("Сервис: IT" in parts(m)["text/plain"] for m in sink.messages)
    assert all_sent_once(deliveries(database_url))


async def test_an_author_on_the_service_list_gets_one_copy(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM, "Author@1440.test"])
    author = await person(app, database_url, "1001", email_address=AUTHOR)
    agent = await person(app, database_url, "2001", Role.agent)

    ticket = await open_ticket(client, author, service="it")
    await changed(client, agent, ticket["guid_ticket"], "processing")
    await changed(client, agent, ticket["guid_ticket"], "closed_success")
    await run_worker_until_idle(settings)

    # The team copy of the new ticket, then one mail per change (not a team and a personal one).
    to_author = sink.to(AUTHOR)
    assert len(to_author) == 3
    assert len({m["X-Ticket-Event-Id"] for m in to_author}) == 3
    assert len(sink.to(TEAM)) == 3
    assert len(sink.messages) == 6
    rows = deliveries(database_url)
    assert len(rows) == 6
    assert all_sent_once(rows)


async def test_a_multi_line_title_cannot_add_mail_headers(build, database_url, smtp):
    sink, port = smtp
    app, client, settings = await build(**smtp_settings(port))
    admin = await person(app, database_url, "3001", Role.admin)
    await add_service(client, admin, "it", "IT", notify_emails=[TEAM])
    author = await person(app, database_url, "1001")

    refused = await client.post(
        "/api/v1/tickets",
        json={"text": "текст", "title": "Первая строка\r\nBcc: evil@example.com", "service": "it"},
        headers=author,
    )
    assert refused.status_code == 422
    await run_worker_until_idle(settings)

    assert sink.messages == []
    assert deliveries(database_url) == []
