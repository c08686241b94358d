"""An event's deliveries are written by the change's own statement (events.write), and the
senders hear of them at COMMIT, as when they were a statement of their own."""

from __future__ import annotations

from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import bodies, change, person, receive
from tests.statements import watch_sql, writes
from ticket_service.users.models import Role

HOOK = "/hook"


async def test_a_change_its_events_and_their_deliveries_are_one_statement(
    build, database_url, httpserver
):
    url = receive(httpserver, HOOK)
    app, client, settings = await build(webhook_urls=[url], webhook_secret="s")
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)
    sql = watch_sql(app)
    ticket = await open_ticket(client, author)
    [opened] = writes(sql)
    assert "INSERT INTO notification_deliveries" in opened
    assert "pg_notify" in opened

    sql.clear()
    taken = await change(client, agent, ticket["guid_ticket"], "processing")
    assert taken.status_code == 200, taken.text
    [took] = writes(sql)
    assert took.count("INSERT INTO notification_deliveries") == 2  # assigned, status_changed

    # The deliveries' ids follow their events' (the senders keep that order per recipient).
    rows = deliveries(database_url)
    assert [r["event_id"] for r in rows] == sorted(r["event_id"] for r in rows)
    assert len({r["event_id"] for r in rows}) == 3
    await run_worker_until_idle(settings)
    assert [b["type"] for b in bodies(httpserver, HOOK)] == [
        "ticket.opened",
        "ticket.assigned",
        "ticket.status_changed",
    ]
