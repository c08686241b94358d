"""The catalog cache: opening a ticket reads its service from memory, and a change to the
service is seen at once in the process that made it, within CATALOG_CACHE_SECONDS in the
others (here: a change made by another connection, as another api process would)."""

from __future__ import annotations

import psycopg

from tests.factories import open_ticket
from tests.statements import watch_sql
from ticket_service.catalog.cache import ServiceCache
from ticket_service.tickets.repository import active_service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _deactivate_elsewhere(database_url: str, slug: str) -> None:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE services SET is_active = false WHERE slug = %s", (slug,))


async def test_another_process_change_is_seen_once_the_entry_expires(app, database_url):
    clock = Clock()
    cache = ServiceCache(5.0, clock)
    async with app.state.sessionmaker(info={"catalog_cache": cache}) as session:
        first = await active_service(session, "general")
        assert first is not None
    _deactivate_elsewhere(database_url, "general")

    async with app.state.sessionmaker(info={"catalog_cache": cache}) as session:
        clock.now += 4.9  # still trusted: another process's change is not seen yet
        cached = await active_service(session, "general")
        assert cached is not None
        assert cached.service.id == first.service.id
        assert cached.service in session  # attached to this session like a loaded row
    async with app.state.sessionmaker(info={"catalog_cache": cache}) as session:
        clock.now += 0.1
        assert await active_service(session, "general") is None


async def test_a_change_through_the_api_is_seen_at_once(client, people):
    # The first open caches the service; switching it to automatic assignment through the
    # API must apply to the very next ticket in this process.
    await open_ticket(client, people.author.headers, "Первая")
    r = await client.patch(
        "/api/v1/services/general", json={"assignment": "round_robin"}, headers=people.admin.headers
    )
    assert r.status_code == 200, r.text
    second = await open_ticket(client, people.author.headers, "Вторая")
    assert second["assignee"] == "2001"  # the team's only agent


async def test_a_ticket_without_a_policy_reads_no_sla_and_a_new_policy_applies_at_once(
    app, client, people
):
    await open_ticket(client, people.author.headers, "Первая")  # caches `general`
    statements = watch_sql(app)
    plain = await open_ticket(client, people.author.headers, "Без SLA")
    assert plain["sla"] is None
    [write] = statements  # the ticket's own statement: no service, no SLA read
    assert "INSERT INTO tickets" in write

    policy = {"priority": "normal", "first_response_minutes": 30, "resolution_minutes": 240}
    r = await client.put(
        "/api/v1/services/general/sla",
        json={"calendar": "default", "auto_close_days": 7, "policies": [policy]},
        headers=people.admin.headers,
    )
    assert r.status_code == 200, r.text
    statements.clear()
    under = await open_ticket(client, people.author.headers, "С SLA")
    assert under["sla"] is not None
    assert under["sla"]["resolution_due_at"] is not None
    assert len(statements) == 3  # the service again (its cache was emptied), its SLA, the write
    # The next one of another priority, with no policy, again reads nothing but writes.
    statements.clear()
    high = await client.post(
        "/api/v1/tickets",
        json={"text": "Срочно", "priority": "high"},
        headers=people.author.headers,
    )
    assert high.json()["sla"] is None
    assert len(statements) == 1
