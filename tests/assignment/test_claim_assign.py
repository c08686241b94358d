"""Claiming and assigning: who may, to whom, and two claims at once."""

from __future__ import annotations

import asyncio

from tests.assignment.conftest import put_on_team
from tests.factories import open_ticket
from tests.tickets.helpers import change_v1, events, read


async def claim(client, headers, guid):
    return await client.post(f"/api/v1/tickets/{guid}/claim", headers=headers)


async def assign(client, headers, guid, assignee):
    return await client.post(
        f"/api/v1/tickets/{guid}/assign", json={"assignee": assignee}, headers=headers
    )


async def test_two_agents_claiming_at_once_exactly_one_wins(client, crew):
    for run in range(6):
        guid = (await open_ticket(client, crew.author, f"race {run}"))["guid_ticket"]
        first, second = await asyncio.gather(
            claim(client, crew.general_agent, guid), claim(client, crew.general_agent_2, guid)
        )
        answers = sorted([first, second], key=lambda r: r.status_code)
        won, lost = answers
        assert (won.status_code, lost.status_code) == (200, 409), (won.text, lost.text)
        winner = won.json()["assignee"]
        assert winner in ("2001", "2002")
        error = lost.json()["error"]
        assert error["code"] == "already_assigned"
        assert error["details"] == {"assignee": winner}
        ticket = await read(client, crew.admin, guid)
        assert ticket["assignee"] == winner
        history = await events(client, crew.admin, guid)
        assigned = [e for e in history if e["kind"] == "assigned"]
        assert len(assigned) == 1
        assert assigned[0]["actor"] == winner
        assert assigned[0]["data"] == {"assignee": winner, "previous": None}


async def test_claim_rules(client, crew):
    guid = (await open_ticket(client, crew.author, "VPN"))["guid_ticket"]
    # Not on the team: an employee (their own ticket), an admin, another team's agent.
    for headers, status, code in (
        (crew.author, 403, "team_only"),
        (crew.admin, 403, "team_only"),
        (crew.it_agent, 404, "ticket_not_found"),
    ):
        response = await claim(client, headers, guid)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
    mine = await claim(client, crew.general_agent, guid)
    assert mine.status_code == 200
    assert mine.json()["assignee"] == "2001"
    # Claiming one's own ticket again changes nothing (no second event).
    again = await claim(client, crew.general_agent, guid)
    assert again.status_code == 200
    assert again.json()["version"] == mine.json()["version"]
    assert [e["kind"] for e in await events(client, crew.admin, guid)] == ["opened", "assigned"]

    closed = await change_v1(client, crew.general_agent, guid, "closed_success")
    assert closed.status_code == 200
    late = await claim(client, crew.general_agent_2, guid)
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "ticket_closed"
    missing = await claim(client, crew.general_agent, "00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    bad = await claim(client, crew.general_agent, "not-a-uuid")
    assert bad.status_code == 422


async def test_assign_rules(client, crew, app):
    guid = (await open_ticket(client, crew.author, "VPN"))["guid_ticket"]
    # A team member hands it to a teammate; an admin (on no team) may too.
    to_mate = await assign(client, crew.general_agent, guid, "2002")
    assert to_mate.status_code == 200, to_mate.text
    assert to_mate.json()["assignee"] == "2002"
    to_first = await assign(client, crew.admin, guid, "2001")
    assert to_first.json()["assignee"] == "2001"

    # The assignee must be on the service's team.
    for outsider in ("2101", "3001", "1001", "999999"):
        response = await assign(client, crew.admin, guid, outsider)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "not_in_team"
        assert error["details"] == {"assignee": outsider, "service": "general"}
    # An employee may not assign, not even their own ticket; another team does not see it.
    response = await assign(client, crew.author, guid, "2002")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "team_only")
    assert (await assign(client, crew.it_agent, guid, "2101")).status_code == 404
    # Following or being the assignee does not make one a dispatcher: the team does.
    await put_on_team(client, crew.admin, "it", "2201")
    it_ticket = (await open_ticket(client, crew.author, "Принтер", service="it"))["guid_ticket"]
    assert (await assign(client, crew.it_agent, it_ticket, "2201")).status_code == 200
    await client.delete("/api/v1/services/it/agents/2201", headers=crew.admin)
    response = await assign(client, crew.loose_agent, it_ticket, None)
    assert (response.status_code, response.json()["error"]["code"]) == (403, "team_only")

    # null: to nobody; the same again changes nothing.
    nobody = await assign(client, crew.general_agent, guid, None)
    assert nobody.status_code == 200
    assert nobody.json()["assignee"] is None
    assert (await assign(client, crew.general_agent, guid, None)).json()["version"] == (
        nobody.json()["version"]
    )
    history = [
        (e["actor"], e["data"])
        for e in await events(client, crew.admin, guid)
        if e["kind"] == "assigned"
    ]
    assert history == [
        ("2001", {"assignee": "2002", "previous": None}),
        ("3001", {"assignee": "2001", "previous": "2002"}),
        ("2001", {"assignee": None, "previous": "2001"}),
    ]
    # The author sees the assignments too (public events).
    assert [e["kind"] for e in await events(client, crew.author, guid)].count("assigned") == 3

    for body in ({"assignee": "abc"}, {"assignee": 2001}, {}, {"assignee": "1", "x": 1}):
        response = await client.post(
            f"/api/v1/tickets/{guid}/assign", json=body, headers=crew.admin
        )
        assert response.status_code == 422, (body, response.text)

    await change_v1(client, crew.admin, guid, "closed_fail")
    closed = await assign(client, crew.admin, guid, "2001")
    assert (closed.status_code, closed.json()["error"]["code"]) == (409, "ticket_closed")
