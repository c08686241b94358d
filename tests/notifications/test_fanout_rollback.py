"""A change that does not commit tells nobody: its deliveries roll back with it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg

from tests.factories import open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import (
    all_sent_once,
    bodies,
    change,
    deliver_jobs,
    event_ids,
    person,
    receive,
)
from ticket_service.users.models import Role

HOOK = "/hook"


def _last_event_id(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT last_value FROM pg_sequences WHERE sequencename = %s",
            ("ticket_events_id_seq",),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_refused_changes_send_nothing(build, database_url, httpserver):
    url = receive(httpserver, HOOK)
    app, client, settings = await build(webhook_urls=[url], webhook_secret="s")
    author = await person(app, database_url, "1001")
    stranger = await person(app, database_url, "1002")
    agent = await person(app, database_url, "2001", Role.agent)
    ticket = await open_ticket(client, author)
    guid = ticket["guid_ticket"]
    before = (deliveries(database_url), event_ids(database_url))
    assert len(before[0]) == len(before[1]) == 1

    refused = [
        (author, "processing", {}, 403),  # only agents take tickets into work
        (agent, "open", {}, 400),  # already open
        (agent, "archived", {}, 400),  # no such status
        (agent, "processing", {"version": ticket["version"] + 1}, 409),  # stale read
        (stranger, "closed_fail", {}, 404),  # not theirs to see
    ]
    for headers, status, extra, expected in refused:
        response = await change(client, headers, guid, status, **extra)
        assert response.status_code == expected, (status, response.text)

    after = (deliveries(database_url), event_ids(database_url))
    assert after == before
    await run_worker_until_idle(settings)
    assert [b["type"] for b in bodies(httpserver, HOOK)] == ["ticket.opened"]


async def _wait_for_lock_waiters(conn: psycopg.AsyncConnection, count: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query ILIKE '%UPDATE tickets%'"
        )
        row = await cur.fetchone()
        if row and row[0] >= count:
            return
        assert time.monotonic() < deadline, "the two changes never queued on the ticket row"
        await asyncio.sleep(0.02)


async def test_the_loser_of_a_concurrent_change_leaves_no_trace(build, database_url, httpserver):
    url = receive(httpserver, HOOK)
    app, client, settings = await build(webhook_urls=[url], webhook_secret="s")
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)
    admin = await person(app, database_url, "3001", Role.admin)
    ticket = await open_ticket(client, author)
    guid = ticket["guid_ticket"]

    # Hold the ticket's row (as an UPDATE would; foreign-key checks still pass) so both
    # requests read version 1 and queue on their UPDATE (a change's statement writes the
    # ticket before its event): the first to get the row commits, the second finds the
    # version moved on.
    async with (
        await psycopg.AsyncConnection.connect(database_url) as holder,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as watcher,
    ):
        await holder.execute("SELECT 1 FROM tickets WHERE id = %s FOR NO KEY UPDATE", (guid,))
        racing = [
            # Neither takes it into work: a take would also record its assignment.
            asyncio.create_task(change(client, agent, guid, "closed_fail")),
            asyncio.create_task(change(client, admin, guid, "closed_success")),
        ]
        try:
            await _wait_for_lock_waiters(watcher, 2)
        finally:
            await holder.rollback()
        responses = await asyncio.gather(*racing)

    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    [loser] = [r.json() for r in responses if r.status_code == 409]
    assert loser["error"]["code"] == "version_conflict"

    # The loser stopped at its UPDATE: it never wrote an event (no id was even taken).
    events = event_ids(database_url)
    assert len(events) == 2
    assert _last_event_id(database_url) == 2
    # One event per committed change, one delivery per event (the rows are the queue).
    rows = deliveries(database_url)
    assert [r["event_id"] for r in rows] == events
    assert deliver_jobs(database_url) == []

    await run_worker_until_idle(settings)
    sent = bodies(httpserver, HOOK)
    assert [b["type"] for b in sent] == ["ticket.opened", "ticket.status_changed"]
    assert sent[1]["to_status"] == winner["status"]
    assert sent[1]["ticket"]["status"] == winner["status"]
    assert all_sent_once(deliveries(database_url))
    current = await client.get(f"/api/v1/tickets/{guid}", headers=admin)
    assert current.json()["status"] == winner["status"]
    assert current.json()["version"] == ticket["version"] + 1


@contextmanager
def commit_refused_for(database_url: str, kind: str) -> Iterator[None]:
    """Make PostgreSQL refuse, at COMMIT, any transaction that wrote a `kind` event: the
    change, its event and deliveries are all written by then (as when a commit fails
    on a lost connection or a serialization error)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_commit() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'commit refused by the test'; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER test_refuse_commit AFTER INSERT ON ticket_events"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            f" WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION test_refuse_commit()"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER test_refuse_commit ON ticket_events")
            conn.execute("DROP FUNCTION test_refuse_commit()")


async def test_a_change_that_fails_to_commit_sends_nothing(build, database_url, httpserver):
    url = receive(httpserver, HOOK)
    app, _, settings = await build(webhook_urls=[url], webhook_secret="s")
    author = await person(app, database_url, "1001")
    agent = await person(app, database_url, "2001", Role.agent)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with commit_refused_for(database_url, "opened"):
            failed_open = await client.post("/api/v1/tickets", json={"text": "x"}, headers=author)
        ticket = await open_ticket(client, author)
        with commit_refused_for(database_url, "status_changed"):
            failed_change = await change(client, agent, ticket["guid_ticket"], "processing")
        current = await client.get(f"/api/v1/tickets/{ticket['guid_ticket']}", headers=agent)

    assert (failed_open.status_code, failed_change.status_code) == (500, 500)
    assert current.json()["status"] == "open"
    # Only the second opening committed: one event, one delivery.
    assert len(event_ids(database_url)) == 1
    rows = deliveries(database_url)
    assert len(rows) == 1
    assert deliver_jobs(database_url) == []
    await run_worker_until_idle(settings)
    sent = bodies(httpserver, HOOK)
    assert [(b["type"], b["ticket"]["guid_ticket"]) for b in sent] == [
        ("ticket.opened", ticket["guid_ticket"])
    ]


async def test_refused_opens_send_nothing(build, database_url, httpserver):
    url = receive(httpserver, HOOK)
    app, client, settings = await build(webhook_urls=[url], webhook_secret="s")
    author = await person(app, database_url, "1001")
    admin = await person(app, database_url, "3001", Role.admin)
    closed = await client.patch(
        "/api/v1/services/general", json={"is_active": False}, headers=admin
    )
    assert closed.status_code == 200, closed.text

    refused = [
        await client.post("/api/v1/tickets", json=body, headers=author)
        for body in (
            {"text": "x", "service": "general"},  # inactive
            {"text": "x", "service": "nope"},  # unknown
            {"text": " "},  # blank
        )
    ]

    assert [r.status_code for r in refused] == [400, 400, 422]
    assert deliveries(database_url) == []
    assert deliver_jobs(database_url) == []
    await run_worker_until_idle(settings)
    assert bodies(httpserver, HOOK) == []
    assert json.loads(refused[0].text)["error"]["code"] == "unknown_service"
