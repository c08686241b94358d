"""The scanner: warnings at 80%, breaches at 100%, once per ticket and target even with two
scanners at once; auto-close with its warning; who hears about it (real SMTP and Slack
receivers, the real worker). Time is the `now` handed to the scan."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from tests.factories import open_ticket
from tests.notifications.conftest import run_worker_until_idle
from tests.notifications.receivers import (
    MailSink,
    bodies,
    person,
    receive,
    smtp_server,
    smtp_settings,
)
from tests.sla.conftest import Person, events_of, get, move, set_sla
from ticket_service.sla.scanner import scan
from ticket_service.users.models import Role

SECOND = timedelta(seconds=1)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def scan_at(app: FastAPI, now: datetime) -> Any:
    async with app.state.sessionmaker() as session, session.begin():
        return await scan(session, now)


async def test_warning_at_80_percent_then_breach_at_100(app, client, people, database_url):
    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    guid, sla = ticket["guid_ticket"], ticket["sla"]
    created = at(ticket["created_at"])

    nothing = await scan_at(app, created + timedelta(minutes=47))
    assert not nothing.recorded
    warned = await scan_at(app, created + timedelta(minutes=48))  # 80% of 60 min
    assert warned.recorded == {("sla_warning", "first_response"): 1}
    assert (await scan_at(app, created + timedelta(minutes=59))).recorded == {}
    breached = await scan_at(app, at(sla["first_response_due_at"]))
    assert breached.recorded == {("sla_breached", "first_response"): 1}
    assert breached.breaches == {("general", "first_response"): 1}

    # Resolution: 80% of 600 min = 480 min; both at once when the scan comes late.
    late = await scan_at(app, at(sla["resolution_due_at"]) + timedelta(hours=1))
    assert late.recorded == {("sla_warning", "resolution"): 1, ("sla_breached", "resolution"): 1}
    kinds = [
        (e["kind"], e["data"]["target"])
        for e in events_of(database_url, guid, "sla_warning", "sla_breached")
    ]
    assert kinds == [
        ("sla_warning", "first_response"),
        ("sla_breached", "first_response"),
        ("sla_warning", "resolution"),
        ("sla_breached", "resolution"),
    ]
    # Staff-only: the author's history does not show them, the agent's does.
    seen = await client.get(f"/api/v1/tickets/{guid}/events", headers=people.author.headers)
    assert not {e["kind"] for e in seen.json()["items"]} & {"sla_warning", "sla_breached"}
    staff = await client.get(f"/api/v1/tickets/{guid}/events", headers=people.agent.headers)
    assert {"sla_warning", "sla_breached"} <= {e["kind"] for e in staff.json()["items"]}


async def test_a_first_response_in_time_stops_its_escalation(app, client, people):
    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    await move(client, people.agent, ticket["guid_ticket"], "processing")
    result = await scan_at(app, at(ticket["sla"]["first_response_due_at"]) + SECOND)
    assert result.recorded == {}


async def test_a_paused_ticket_is_not_escalated(app, client, people):
    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    await move(client, people.agent, guid, "waiting")
    result = await scan_at(app, at(ticket["sla"]["resolution_due_at"]) + timedelta(days=1))
    assert result.recorded == {}


async def test_two_scanners_at_once_record_each_breach_once(app, client, people, database_url):
    await set_sla(client, people.admin, first=60, resolution=600)
    guids = [(await open_ticket(client, people.author.headers))["guid_ticket"] for _ in range(5)]
    ticket = await get(client, people.agent, guids[-1])
    later = at(ticket["sla"]["resolution_due_at"]) + timedelta(minutes=1)

    # Scanner A has inserted its rows but not committed; scanner B starts meanwhile and
    # must wait on the unique index, then find them there.
    async with app.state.sessionmaker() as first:
        await first.begin()
        a = await scan_at_in(first, later)
        b_task = asyncio.create_task(scan_at(app, later))
        await _until_blocked(database_url)
        await first.commit()
    b = await b_task
    assert sum(a.recorded.values()) == 20  # 5 tickets × 2 targets × (warning, breach)
    assert b.recorded == {}

    # And two scanners started together, on fresh breaches: still exactly once.
    await set_sla(client, people.admin, first=60, resolution=600, priority="high")
    fresh = await open_ticket(client, people.author.headers, priority="high")
    again = at(fresh["sla"]["resolution_due_at"]) + timedelta(minutes=1)
    one, two = await asyncio.gather(scan_at(app, again), scan_at(app, again))
    assert sum(one.recorded.values()) + sum(two.recorded.values()) == 4
    with psycopg.connect(database_url) as conn:
        counts = conn.execute(
            "SELECT kind, data->>'target', count(*) FROM ticket_events"
            " WHERE kind IN ('sla_warning', 'sla_breached') GROUP BY 1, 2"
        ).fetchall()
    assert sorted(counts) == [
        ("sla_breached", "first_response", 6),
        ("sla_breached", "resolution", 6),
        ("sla_warning", "first_response", 6),
        ("sla_warning", "resolution", 6),
    ]


async def scan_at_in(session: Any, now: datetime) -> Any:
    return await scan(session, now)


async def _until_blocked(database_url: str) -> None:
    """Until another backend waits for a lock (scanner B on A's uncommitted rows)."""
    for _ in range(400):
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
        if row and row[0]:
            return
        await asyncio.sleep(0.01)  # waiting for the other transaction, not for time to pass
    raise AssertionError("scanner B never waited for scanner A")


async def test_auto_close_warns_a_business_day_before_then_closes(
    app, client, people, database_url
):
    await set_sla(client, people.admin, auto_close_days=3)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    waiting = await move(client, people.agent, guid, "waiting")
    since = at(waiting["updated_at"])
    closes = since + timedelta(days=3)

    # 24/7 calendar: one business day before is 24 h before.
    assert (await scan_at(app, closes - timedelta(days=1) - SECOND)).auto_close_warnings == 0
    warned = await scan_at(app, closes - timedelta(days=1))
    assert warned.auto_close_warnings == 1
    assert (await scan_at(app, closes - SECOND)).auto_close_warnings == 0  # once
    assert (await get(client, people.author, guid))["status"] == "waiting"

    closed = await scan_at(app, closes)
    assert closed.auto_closed == 1
    after = await get(client, people.author, guid)
    assert after["status"] == "closed_fail"
    history = events_of(database_url, guid, "auto_close_warning", "status_changed", "auto_closed")
    assert [e["kind"] for e in history][-3:] == [
        "auto_close_warning",
        "status_changed",
        "auto_closed",
    ]
    assert history[-2]["to_status"] == "closed_fail"
    assert (await scan_at(app, closes + timedelta(days=1))).auto_closed == 0


async def test_an_answer_cancels_the_auto_close(app, client, people):
    await set_sla(client, people.admin, auto_close_days=3)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    waiting = await move(client, people.agent, guid, "waiting")
    reply = await client.post(
        f"/api/v1/tickets/{guid}/comments", json={"body": "ответ"}, headers=people.author.headers
    )
    assert reply.status_code == 201
    result = await scan_at(app, at(waiting["updated_at"]) + timedelta(days=10))
    assert (result.auto_close_warnings, result.auto_closed) == (0, 0)
    assert (await get(client, people.author, guid))["status"] == "processing"


async def test_auto_close_days_zero_never_closes(app, client, people):
    await set_sla(client, people.admin, auto_close_days=0)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    waiting = await move(client, people.agent, guid, "waiting")
    result = await scan_at(app, at(waiting["updated_at"]) + timedelta(days=400))
    assert (result.auto_close_warnings, result.auto_closed) == (0, 0)


# --- who hears ------------------------------------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[MailSink, int]]:
    with smtp_server() as server:
        yield server


async def test_warning_and_breach_reach_the_assignee_the_team_channel_and_admins(
    build, database_url, httpserver, smtp
):
    sink, port = smtp
    app, client, settings = await build(
        **smtp_settings(port),
        slack_webhook_url=receive(httpserver, "/slack"),
        internal_safe_channels=["slack"],
        notify_locale="en",
    )
    admin = Person(
        "3001", await person(app, database_url, "3001", Role.admin, email_address="admin@1440.test")
    )
    author = Person(
        "1001", await person(app, database_url, "1001", email_address="author@1440.test")
    )
    agent = Person(
        "2001", await person(app, database_url, "2001", Role.agent, email_address="agent@1440.test")
    )
    await set_sla(client, admin, first=60, resolution=600)
    ticket = await open_ticket(client, author.headers)
    await move(client, agent, ticket["guid_ticket"], "processing")  # the agent takes it
    await run_worker_until_idle(settings)
    sink_before = len(sink.messages)
    slack_before = len(bodies(httpserver, "/slack"))

    await scan_at(app, at(ticket["sla"]["resolution_due_at"]))
    await run_worker_until_idle(settings)

    new_mail = sink.messages[sink_before:]
    subjects = {m["To"]: [] for m in new_mail}
    for message in new_mail:
        subjects[message["To"]].append(message["Subject"])
    number = ticket["number"]
    warning = f"Ticket #{number}: 80% of the SLA time used (resolution)"
    breach = f"Ticket #{number}: SLA breached (resolution)"
    assert sorted(subjects["agent@1440.test"]) == sorted([warning, breach])
    assert subjects["admin@1440.test"] == [breach]
    assert "author@1440.test" not in subjects  # staff-only
    slack = [str(b) for b in bodies(httpserver, "/slack")[slack_before:]]
    assert len(slack) == 2
    assert any(warning in text for text in slack)
    assert any(breach in text for text in slack)


async def test_the_worker_runs_the_scan_every_minute(app, client, people, database_url, settings):
    from tests.sla.conftest import time_passes
    from tests.worker import run_until_idle
    from ticket_service.sla.tasks import sla_scan
    from ticket_service.worker.app import open_jobs
    from ticket_service.worker.registry import jobs

    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    time_passes(database_url, ticket["guid_ticket"], 61 * 60)
    async with open_jobs(settings):
        await sla_scan.defer_async(timestamp=0)
    await run_until_idle(settings, "sla_scan")
    kinds = [e["kind"] for e in events_of(database_url, ticket["guid_ticket"], "sla_breached")]
    assert kinds == ["sla_breached"]
    # The worker schedules it every minute.
    periodic = {p.periodic_id: p.cron for p in jobs.periodic_registry.periodic_tasks.values()}
    assert periodic["sla_scan"] == "* * * * *"
