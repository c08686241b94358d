"""The SLA of a ticket through real API calls: due dates on open, first response by a
staff reply or by taking it into work, the resolution clock paused while waiting, stopped
on close and resumed on reopen. Time passes by moving the ticket's instants into the past."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.factories import open_ticket
from tests.sla.conftest import comment, get, move, set_sla, time_passes

HOUR = 3600


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_ticket_under_a_policy_shows_its_due_dates(client, people):
    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    sla = ticket["sla"]
    created = at(ticket["created_at"])
    assert at(sla["first_response_due_at"]) == created + timedelta(minutes=60)
    assert at(sla["resolution_due_at"]) == created + timedelta(minutes=600)
    assert sla["paused"] is False
    assert sla["breached"] == []
    assert sla["first_response_at"] is None
    assert sla["remaining_seconds"] == 600 * 60
    # The same on a read, and in the seed's flat body and list.
    assert (await get(client, people.author, ticket["guid_ticket"]))["sla"]["resolution_due_at"]
    seed = await client.get("/api/tickets/get", headers=people.author.headers)
    assert seed.json()["response"]["relevant_tickets"][0]["sla"]["paused"] is False


async def test_no_policy_for_the_priority_means_no_sla(client, people):
    await set_sla(client, people.admin, priority="urgent")
    ticket = await open_ticket(client, people.author.headers, priority="low")
    assert ticket["sla"] is None
    assert (await get(client, people.agent, ticket["guid_ticket"]))["sla"] is None


async def test_the_default_calendar_counts_moscow_office_hours(client, people):
    # No calendar: Europe/Moscow Mon-Fri 09-18. Whatever the time now, the due instant is
    # within office hours in Moscow and not on a weekend.
    await set_sla(client, people.admin, calendar=None, first=30, resolution=60)
    ticket = await open_ticket(client, people.author.headers)
    from zoneinfo import ZoneInfo

    due = at(ticket["sla"]["resolution_due_at"]).astimezone(ZoneInfo("Europe/Moscow"))
    assert due.weekday() < 5
    assert (9, 0) <= (due.hour, due.minute) <= (18, 0)
    got = await client.get("/api/v1/services/general/sla", headers=people.agent.headers)
    assert got.json()["calendar_is_default"] is True


async def test_first_response_by_a_public_staff_reply(client, people, database_url):
    await set_sla(client, people.admin)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    # Neither the author's comment nor an internal note is a response.
    await comment(client, people.author, guid, "ещё деталь")
    await comment(client, people.agent, guid, "посмотрю", internal=True)
    assert (await get(client, people.author, guid))["sla"]["first_response_at"] is None
    time_passes(database_url, guid, 30 * 60)
    await comment(client, people.agent, guid, "Здравствуйте, смотрим")
    sla = (await get(client, people.author, guid))["sla"]
    assert sla["first_response_at"] is not None
    assert sla["breached"] == []
    # Later replies do not move it.
    time_passes(database_url, guid, 60)
    first = (await get(client, people.author, guid))["sla"]["first_response_at"]
    await comment(client, people.agent, guid, "ещё ответ")
    assert (await get(client, people.author, guid))["sla"]["first_response_at"] == first


async def test_first_response_by_taking_it_into_work_and_a_late_one_is_breached(
    client, people, database_url
):
    await set_sla(client, people.admin, first=60)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    time_passes(database_url, guid, 61 * 60)
    assert (await get(client, people.agent, guid))["sla"]["breached"] == ["first_response"]
    moved = await move(client, people.agent, guid, "processing")
    assert moved["sla"]["first_response_at"] is not None
    assert moved["sla"]["breached"] == ["first_response"]  # and it stays missed
    missed = await client.get("/api/v1/tickets?sla=breached", headers=people.agent.headers)
    assert [t["guid_ticket"] for t in missed.json()["items"]] == [guid]


async def test_waiting_pauses_the_resolution_clock_and_the_reply_resumes_it(
    client, people, database_url
):
    await set_sla(client, people.admin, first=60, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    time_passes(database_url, guid, 2 * HOUR)  # 2 h of the 10 used
    waiting = await move(client, people.agent, guid, "waiting")
    sla = waiting["sla"]
    assert sla["paused"] is True
    assert sla["resolution_due_at"] is None
    # 8 h left, give or take the seconds this test took.
    assert 8 * HOUR - 60 <= sla["remaining_seconds"] <= 8 * HOUR

    time_passes(database_url, guid, 5 * HOUR)  # waiting: nothing is used
    paused = (await get(client, people.agent, guid))["sla"]
    assert paused["remaining_seconds"] == sla["remaining_seconds"]
    assert paused["breached"] == []

    await comment(client, people.author, guid, "вот ответ")  # waiting -> processing
    resumed = await get(client, people.agent, guid)
    assert resumed["status"] == "processing"
    assert resumed["sla"]["paused"] is False
    due = at(resumed["sla"]["resolution_due_at"])
    now = at(resumed["updated_at"])
    assert timedelta(seconds=sla["remaining_seconds"] - 5) <= due - now
    assert due - now <= timedelta(seconds=sla["remaining_seconds"])


async def test_close_stops_the_clock_and_a_reopen_resumes_it(client, people, database_url):
    await set_sla(client, people.admin, resolution=600)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    time_passes(database_url, guid, 3 * HOUR)
    closed = await move(client, people.agent, guid, "closed_success")
    assert closed["sla"]["resolution_due_at"] is None
    assert closed["sla"]["remaining_seconds"] is None
    assert closed["sla"]["paused"] is False
    time_passes(database_url, guid, 24 * HOUR)  # closed: nothing is used
    reopened = await move(client, people.author, guid, "open")
    due = at(reopened["sla"]["resolution_due_at"])
    left = due - at(reopened["updated_at"])
    assert timedelta(hours=7) - timedelta(minutes=1) <= left <= timedelta(hours=7)


async def test_closing_after_the_target_counts_as_missed(client, people, database_url):
    await set_sla(client, people.admin, first=60, resolution=120)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move(client, people.agent, guid, "processing")
    time_passes(database_url, guid, 3 * HOUR)
    closed = await move(client, people.agent, guid, "closed_success")
    assert closed["sla"]["breached"] == ["resolution"]
    listed = await client.get("/api/v1/tickets?sla=breached", headers=people.admin.headers)
    assert [t["guid_ticket"] for t in listed.json()["items"]] == [guid]


async def test_withdrawing_a_ticket_nobody_answered_misses_the_first_response(
    client, people, database_url
):
    await set_sla(client, people.admin, first=60, resolution=6000)
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    time_passes(database_url, guid, 2 * HOUR)
    closed = await move(client, people.author, guid, "closed_fail")
    assert closed["sla"]["breached"] == ["first_response"]
    listed = await client.get("/api/v1/tickets?sla=breached", headers=people.admin.headers)
    assert [t["guid_ticket"] for t in listed.json()["items"]] == [guid]
