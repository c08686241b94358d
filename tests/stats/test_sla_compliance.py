"""SLA compliance in the statistics, through the SLA clocks themselves: of the tickets
under a policy closed in the period, the share that missed neither target. Time passes by
moving a ticket's instants into the past (tests.sla.conftest.time_passes)."""

from __future__ import annotations

from tests.factories import open_ticket
from tests.sla.conftest import move, set_sla, time_passes

HOUR = 3600


async def test_compliance_counts_what_the_clocks_say_was_missed(client, people, database_url):
    # first response within 60 min, resolution within 120 min, 24/7, priority normal.
    await set_sla(client, people.admin, first=60, resolution=120)
    author, agent = people.author.headers, people.agent

    in_time = (await open_ticket(client, author, "В срок"))["guid_ticket"]
    await move(client, agent, in_time, "processing")
    await move(client, agent, in_time, "closed_success")

    late_close = (await open_ticket(client, author, "Решили поздно"))["guid_ticket"]
    await move(client, agent, late_close, "processing")
    time_passes(database_url, late_close, 3 * HOUR)  # 180 min used of 120
    await move(client, agent, late_close, "closed_success")

    late_answer = (await open_ticket(client, author, "Ответили поздно"))["guid_ticket"]
    time_passes(database_url, late_answer, 90 * 60)  # first response due after 60 min
    await move(client, agent, late_answer, "processing")
    await move(client, agent, late_answer, "closed_success")

    # Under no SLA (no policy for `low`): not counted at all.
    unmeasured = (await open_ticket(client, author, "Без SLA", priority="low"))["guid_ticket"]
    await move(client, agent, unmeasured, "processing")
    await move(client, agent, unmeasured, "closed_success")

    response = await client.get("/api/v1/stats", headers=people.admin.headers)
    assert response.status_code == 200, response.text
    [general] = response.json()["services"]
    assert general["closed"] == 4
    # 1 of 3 met: 33.3 % (one decimal)
    assert general["sla"] == {"closed": 3, "met": 1, "compliance_pct": 33.3}
    [agent_row] = response.json()["agents"]
    assert agent_row["sla"] == general["sla"]
