"""Signed webhooks to two real receivers on 127.0.0.1, verified as a receiver would."""

from __future__ import annotations

import json
import time

from pytest_httpserver import HTTPServer

from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    PUBLIC_URL,
    all_sent_once,
    changed,
    person,
    posts,
    receive,
    signature_ok,
)
from ticket_service.users.models import Role

SECRET = "whsec-test-0123456789"


async def test_every_receiver_gets_each_event_signed(build, database_url, httpserver):
    # The second receiver is another server, as a second consumer would be.
    with HTTPServer(host="127.0.0.1", port=0) as other:
        urls = [receive(httpserver, "/hooks/a"), receive(other, "/hooks/b")]
        app, client, settings = await build(
            webhook_urls=urls, webhook_secret=SECRET, public_url=PUBLIC_URL
        )
        author = await person(app, database_url, "1001")
        agent = await person(app, database_url, "2001", Role.agent)

        ticket = await open_ticket(client, author, "Нужен доступ к Jira", priority="urgent")
        await changed(client, agent, ticket["guid_ticket"], "processing")
        await run_worker_until_idle(settings)
        received = [posts(httpserver, "/hooks/a"), posts(other, "/hooks/b")]

    # opened, assigned (the agent took it), status_changed
    assert [len(requests) for requests in received] == [3, 3]
    now = time.time()
    for requests in received:
        for request in requests:
            assert request.headers["Content-Type"] == "application/json"
            assert signature_ok(SECRET, request)
            assert not signature_ok("another-secret", request)
            assert abs(int(request.headers["X-Ticket-Timestamp"]) - now) < 60
            assert request.headers["X-Ticket-Event-Id"] == json.loads(request.get_data())["id"]
    # One event, one id: the same at both receivers, so they can de-duplicate.
    ids_a = [r.headers["X-Ticket-Event-Id"] for r in received[0]]
    ids_b = [r.headers["X-Ticket-Event-Id"] for r in received[1]]
    assert ids_a == ids_b
    assert len(set(ids_a)) == 3

    opened, assigned, moved = sorted(
        (json.loads(r.get_data()) for r in received[0]), key=lambda b: int(b["id"])
    )
    expected_ticket = {
        "guid_ticket": ticket["guid_ticket"],
        "number": ticket["number"],
        "title": "Нужен доступ к Jira",
        "priority": "urgent",
        "service": "Общие вопросы",
        "author": "1001",
        "url": f"{PUBLIC_URL}/api/v1/tickets/{ticket['guid_ticket']}",
    }
    assert opened["type"] == "ticket.opened"
    assert opened["actor"] == "1001"
    assert opened["to_status"] == "open"
    assert opened["ticket"].items() >= expected_ticket.items()
    assert (assigned["type"], assigned["assignee"], assigned["actor"]) == (
        "ticket.assigned",
        "2001",
        "2001",
    )
    assert moved["type"] == "ticket.status_changed"
    assert moved["actor"] == "2001"
    assert (moved["from_status"], moved["to_status"]) == ("open", "processing")
    assert moved["ticket"].items() >= expected_ticket.items()
    assert moved["ticket"]["status"] == "processing"
    assert moved["occurred_at"] >= opened["occurred_at"]

    assert moved["ticket"]["assignee"] == "2001"

    rows = deliveries(database_url)
    assert len(rows) == 6
    assert all_sent_once(rows)
    # A webhook URL is a credential: deliveries name it by a key, never by the URL.
    assert {r["recipient"] for r in rows}.isdisjoint(urls)
    assert len({r["recipient"] for r in rows}) == 2


async def test_webhook_urls_from_a_comma_separated_setting(build, database_url, httpserver):
    a, b = receive(httpserver, "/hooks/a"), receive(httpserver, "/hooks/b")
    # As an operator writes it in the environment: WEBHOOK_URLS=<a>, <b>
    app, client, settings = await build(webhook_urls=f"{a}, {b}", webhook_secret=SECRET)
    author = await person(app, database_url, "1001")
    await open_ticket(client, author)
    await run_worker_until_idle(settings)

    [to_a], [to_b] = posts(httpserver, "/hooks/a"), posts(httpserver, "/hooks/b")
    assert to_a.get_data() == to_b.get_data()
    assert signature_ok(SECRET, to_a)
    assert signature_ok(SECRET, to_b)
