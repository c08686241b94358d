"""SLA tests: people (from the ticket tests), a 24/7 calendar so business time is wall
time, and helpers that make time pass for a ticket by moving its instants into the past
(the database's clock stays the judge)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from tests.notifications.conftest import build  # noqa: F401 - the fixture
from tests.tickets.conftest import People, Person, people  # noqa: F401 - the fixture

ALWAYS_HOURS = {
    day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}

# Every instant the SLA keeps on a ticket: shifting them all back by N seconds is, for a
# 24/7 calendar, the same as N seconds having passed.
INSTANTS = (
    "created_at",
    "first_response_at",
    "first_response_due_at",
    "first_response_warn_at",
    "sla_clock_started_at",
    "resolution_warn_at",
    "resolution_due_at",
    "sla_breached_at",
    "waiting_since",
    "auto_close_warn_at",
    "auto_close_at",
)


async def set_sla(
    client: httpx.AsyncClient,
    admin: Person,
    *,
    slug: str = "general",
    first: int = 60,
    resolution: int = 600,
    priority: str = "normal",
    auto_close_days: int = 7,
    calendar: str | None = "always",
) -> dict[str, Any]:
    """A 24/7 calendar (created once) and one policy for `priority` on the service."""
    if calendar == "always":
        made = await client.post(
            "/api/v1/calendars",
            json={"slug": "always", "name": "24/7", "time_zone": "UTC", "hours": ALWAYS_HOURS},
            headers=admin.headers,
        )
        assert made.status_code in (201, 409), made.text
    response = await client.put(
        f"/api/v1/services/{slug}/sla",
        json={
            "calendar": calendar,
            "auto_close_days": auto_close_days,
            "policies": [
                {
                    "priority": priority,
                    "first_response_minutes": first,
                    "resolution_minutes": resolution,
                }
            ],
        },
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def time_passes(database_url: str, guid: str, seconds: int) -> None:
    """For this ticket, `seconds` pass: its instants move that far into the past."""
    sets = ", ".join(f"{c} = {c} - make_interval(secs => %(s)s)" for c in INSTANTS)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"UPDATE tickets SET {sets} WHERE id = %(id)s", {"s": seconds, "id": guid})  # noqa: S608


def events_of(database_url: str, guid: str, *kinds: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT kind, data, from_status, to_status FROM ticket_events"
            " WHERE ticket_id = %s AND kind = ANY(%s) ORDER BY id",
            (guid, list(kinds)),
        ).fetchall()


async def get(client: httpx.AsyncClient, who: Person, guid: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{guid}", headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def move(client: httpx.AsyncClient, who: Person, guid: str, status: str) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": status}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def comment(
    client: httpx.AsyncClient, who: Person, guid: str, body: str = "ok", internal: bool = False
) -> None:
    response = await client.post(
        f"/api/v1/tickets/{guid}/comments",
        json={"body": body, "internal": internal},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
