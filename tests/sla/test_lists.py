"""`sla=at_risk|breached` and `sort=due` on the ticket lists, with the cursor, and the SLA
metrics: what is about to breach, what did we miss."""

from __future__ import annotations

from tests.factories import open_ticket
from tests.sla.conftest import move, set_sla, time_passes


async def _ids(client, headers, query: str) -> list[str]:
    response = await client.get(f"/api/v1/tickets?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [t["guid_ticket"] for t in response.json()["items"]]


async def test_at_risk_and_breached(client, people, database_url):
    await set_sla(client, people.admin, first=60, resolution=600)
    calm = (await open_ticket(client, people.author.headers))["guid_ticket"]
    risky = (await open_ticket(client, people.author.headers))["guid_ticket"]
    late = (await open_ticket(client, people.author.headers))["guid_ticket"]
    await open_ticket(client, people.author.headers, priority="low")  # under no SLA
    for guid in (calm, risky, late):
        await move(client, people.agent, guid, "processing")
    time_passes(database_url, risky, 500 * 60)  # 83% of the resolution target
    time_passes(database_url, late, 601 * 60)
    staff = people.agent.headers
    assert await _ids(client, staff, "sla=at_risk") == [risky]
    assert await _ids(client, staff, "sla=breached") == [late]
    # Combined with the other filters, and visibility still applies.
    assert await _ids(client, staff, "sla=breached&status=processing") == [late]
    assert await _ids(client, people.other_employee.headers, "sla=breached") == []
    assert await _ids(client, people.author.headers, "sla=breached") == [late]
    bad = await client.get("/api/v1/tickets?sla=soon", headers=staff)
    assert bad.status_code == 422


async def test_sort_due_soonest_first_with_a_cursor(client, people, database_url):
    await set_sla(client, people.admin, first=60, resolution=600)
    guids = [(await open_ticket(client, people.author.headers))["guid_ticket"] for _ in range(5)]
    # Under no SLA (no policy for `low`): after every due ticket, oldest first; the third
    # page ends on one of them, so its cursor carries a null due instant.
    plain = (await open_ticket(client, people.author.headers, priority="low"))["guid_ticket"]
    plain_2 = (await open_ticket(client, people.author.headers, priority="low"))["guid_ticket"]
    # Due order: guids[2] (most time passed), guids[0], guids[4], guids[1], guids[3].
    for guid, minutes in zip(guids, (300, 60, 400, 0, 200), strict=True):
        time_passes(database_url, guid, minutes * 60)
    expected = [guids[2], guids[0], guids[4], guids[1], guids[3], plain, plain_2]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "sort=due&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/v1/tickets?{query}", headers=people.agent.headers)).json()
        seen += [t["guid_ticket"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    # The seed list takes the same parameters.
    seed = await client.get("/api/tickets/get?sort=due&limit=1", headers=people.agent.headers)
    assert seed.json()["response"]["relevant_tickets"][0]["guid_ticket"] == guids[2]
    # A number cursor is not a due cursor.
    newest = await client.get("/api/v1/tickets?limit=1", headers=people.agent.headers)
    mixed = await client.get(
        f"/api/v1/tickets?sort=due&cursor={newest.json()['next_cursor']}",
        headers=people.agent.headers,
    )
    assert mixed.status_code == 400
    assert mixed.json()["error"]["code"] == "invalid_cursor"


async def test_metrics_count_breaches_and_tickets_at_risk(app, client, people, database_url):
    from datetime import datetime, timedelta

    from tests.sla.test_scanner import scan_at

    app.state.metrics.cache_seconds = 0
    await set_sla(client, people.admin, first=60, resolution=600)
    late = await open_ticket(client, people.author.headers)
    risky = await open_ticket(client, people.author.headers)
    for ticket in (late, risky):
        await move(client, people.agent, ticket["guid_ticket"], "processing")
    time_passes(database_url, risky["guid_ticket"], 500 * 60)
    time_passes(database_url, late["guid_ticket"], 601 * 60)
    due = datetime.fromisoformat(late["sla"]["resolution_due_at"]) - timedelta(minutes=601)
    await scan_at(app, due + timedelta(seconds=1))
    text = (await client.get("/metrics")).text
    assert 'sla_breaches_total{service="general",target="resolution"} 1.0' in text
    assert 'sla_tickets_at_risk{service="general"} 1.0' in text
