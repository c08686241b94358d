"""Automatic assignment on open: round robin (fair, race-free, position kept in
PostgreSQL), least loaded, people away skipped, nobody available."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from tests.assignment.conftest import make_service, put_on_team
from tests.conftest import make_settings
from tests.factories import auth_headers, open_ticket
from tests.tickets.helpers import change_v1, events
from ticket_service.assignment import service as assignment
from ticket_service.errors import Unprocessable
from ticket_service.main import create_app
from ticket_service.users.models import Role, User


async def away(client, headers, until=None):
    body = {"available": False, **({"until": until} if until else {})}
    response = await client.put("/api/v1/me/availability", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def assignees(client, admin, slug):
    response = await client.get(
        "/api/v1/tickets", params={"service": slug, "limit": 200}, headers=admin
    )
    items = sorted(response.json()["items"], key=lambda t: t["number"])
    return [t["assignee"] for t in items]


@pytest.fixture
async def roomy(database_url, redis_url, discord):
    """An app with a connection for each of 20 concurrent requests."""
    settings = make_settings(database_url, redis_url, discord.url_for("/api/v10"), db_pool_size=25)
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, c


async def test_round_robin_under_20_concurrent_opens(roomy, database_url):
    app, client = roomy
    admin = await auth_headers(app, "3001", Role.admin)
    author = await auth_headers(app, "1001")
    agents = {d: await auth_headers(app, d, Role.agent) for d in ("2001", "2002", "2003")}
    await make_service(client, admin, "it", assignment="round_robin")
    for discord_id in agents:
        await put_on_team(client, admin, "it", discord_id)
    await away(client, agents["2002"])

    opened = await asyncio.gather(
        *(
            client.post("/api/v1/tickets", json={"text": f"№{i}", "service": "it"}, headers=author)
            for i in range(20)
        )
    )
    assert [r.status_code for r in opened] == [201] * 20, [r.text for r in opened]
    answered = [r.json()["assignee"] for r in opened]
    in_order = await assignees(client, admin, "it")
    # Every ticket assigned exactly once, each available agent 10, the one away none.
    assert Counter(in_order) == {"2001": 10, "2003": 10}
    assert Counter(answered) == Counter(in_order)
    # In turn: the agent assigned longest ago goes next, so they alternate.
    assert all(a != b for a, b in itertools.pairwise(in_order)), in_order
    with psycopg.connect(database_url) as conn:
        count = conn.execute("SELECT count(*) FROM ticket_events WHERE kind = 'assigned'")
        assert count.fetchone() == (20,)

    # The position is in PostgreSQL: the team list shows who went last.
    team = (await client.get("/api/v1/services/it/agents", headers=admin)).json()["items"]
    last = {a["discord_id"]: a["last_assigned_at"] for a in team}
    assert last["2002"] is None
    assert last["2001"] is not None
    assert last["2003"] is not None
    next_one = in_order[-2]  # the one who did not get the last ticket
    ticket = await open_ticket(client, author, "ещё", service="it")
    assert ticket["assignee"] == next_one


async def test_the_automatic_assignment_is_recorded_and_told(client, crew):
    await client.patch(
        "/api/v1/services/it", json={"assignment": "round_robin"}, headers=crew.admin
    )
    ticket = await open_ticket(client, crew.author, "VPN", service="it")
    assert ticket["assignee"] == "2101"
    history = await events(client, crew.author, ticket["guid_ticket"])
    assert [(e["kind"], e["actor"]) for e in history] == [("opened", "1001"), ("assigned", None)]
    assert history[1]["data"] == {"assignee": "2101", "previous": None}
    assert "unassigned_reason" not in history[0]["data"]
    # Manual services leave it to the team.
    manual = await open_ticket(client, crew.author, "Стул", service="general")
    assert manual["assignee"] is None
    assert (
        "unassigned_reason"
        not in (await events(client, crew.author, manual["guid_ticket"]))[0]["data"]
    )


async def test_away_until_ends_by_itself(client, crew, database_url):
    await client.patch(
        "/api/v1/services/it", json={"assignment": "round_robin"}, headers=crew.admin
    )
    back_on = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    me = await away(client, crew.it_agent, back_on)
    assert me["available"] is False
    assert datetime.fromisoformat(me["away_until"]) == datetime.fromisoformat(back_on)

    # Nobody available: the ticket stays unassigned and the opened event says why (the
    # team channel hears of it with the `opened` event).
    ticket = await open_ticket(client, crew.author, "VPN", service="it")
    assert ticket["assignee"] is None
    opened = (await events(client, crew.admin, ticket["guid_ticket"]))[0]
    assert opened["data"]["unassigned_reason"] == "nobody_available"

    # Time passes (set in the database, not slept): `until` is behind us.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE users SET away_until = now() - interval '1 minute' WHERE discord_id = '2101'"
        )
    assert (await open_ticket(client, crew.author, "VPN", service="it"))["assignee"] == "2101"
    me = (await client.get("/api/v1/me", headers=crew.it_agent)).json()
    assert (me["available"], me["away_until"]) == (True, None)

    # Back by hand, too.
    await away(client, crew.it_agent)
    assert (await open_ticket(client, crew.author, "x", service="it"))["assignee"] is None
    back = await client.put(
        "/api/v1/me/availability", json={"available": True}, headers=crew.it_agent
    )
    assert back.json()["available"] is True
    assert (await open_ticket(client, crew.author, "x", service="it"))["assignee"] == "2101"


async def test_an_empty_team_means_nobody_available(client, crew):
    await make_service(client, crew.admin, "hr", assignment="least_loaded")
    ticket = await open_ticket(client, crew.author, "Отпуск", service="hr")
    assert ticket["assignee"] is None
    opened = (await events(client, crew.admin, ticket["guid_ticket"]))[0]
    assert opened["data"]["unassigned_reason"] == "nobody_available"


async def test_least_loaded_counts_open_processing_and_waiting(client, crew):
    admin = crew.admin
    await make_service(client, admin, "hr")
    for discord_id in ("2001", "2002", "2101"):
        await put_on_team(client, admin, "hr", discord_id)

    async def given(assignee, status="open"):
        guid = (await open_ticket(client, crew.author, "нагрузка", service="hr"))["guid_ticket"]
        r = await client.post(
            f"/api/v1/tickets/{guid}/assign", json={"assignee": assignee}, headers=admin
        )
        assert r.status_code == 200, r.text
        for step in {
            "open": [],
            "processing": ["processing"],
            "waiting": ["processing", "waiting"],
            "closed_success": ["closed_success"],
        }[status]:
            assert (await change_v1(client, admin, guid, step)).status_code == 200

    # 2001: two tickets (open, waiting); 2002: one in work and two closed; 2101: none.
    await given("2001")
    await given("2001", "waiting")
    await given("2002", "processing")
    await given("2002", "closed_success")
    await given("2002", "closed_success")
    r = await client.patch(
        "/api/v1/services/hr", json={"assignment": "least_loaded"}, headers=admin
    )
    assert r.json()["assignment"] == "least_loaded"

    got = [
        (await open_ticket(client, crew.author, f"№{i}", service="hr"))["assignee"]
        for i in range(5)
    ]
    # 2101 (0) → then 2002 and 2101 tie at 1: 2002 was never picked → 2101 (1 vs 2, 2) →
    # all at 2: 2001 was never picked → then the one picked longest ago, 2002.
    assert got == ["2101", "2002", "2101", "2001", "2002"]


async def test_availability_input(client, crew):
    url = "/api/v1/me/availability"
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases = [
        ({"available": False, "until": past}, "invalid_until"),
        ({"available": False, "until": "2030-01-01T09:00:00"}, "validation_error"),  # naive
        ({"available": True, "until": future}, "invalid_until"),
        ({"available": "no"}, "validation_error"),
        ({"available": 0}, "validation_error"),
        ({}, "validation_error"),
        ({"available": False, "until": "tomorrow"}, "validation_error"),
        ({"available": False, "extra": 1}, "validation_error"),
    ]
    for body, code in cases:
        response = await client.put(url, json=body, headers=crew.it_agent)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == code, (body, response.text)
    me = (await client.get("/api/v1/me", headers=crew.it_agent)).json()
    assert (me["available"], me["away_until"]) == (True, None)
    # Employees do not work tickets: nothing to be away from.
    response = await client.put(url, json={"available": False}, headers=crew.author)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "staff_only")


async def test_a_front_door_passing_a_naive_until_is_refused(app, crew):
    """The rule lives in the service: a Discord modal or a form gets the same 422."""
    async with app.state.sessionmaker() as session:
        agent = (await session.execute(select(User).where(User.discord_id == "2101"))).scalar_one()
        naive = datetime.now() + timedelta(days=1)
        with pytest.raises(Unprocessable) as refused:
            await assignment.set_availability(session, agent, False, naive)
        assert refused.value.code == "invalid_until"
