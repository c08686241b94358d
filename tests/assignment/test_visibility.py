"""Who sees which ticket, for every kind of person, in lists, one by one, in the history,
and in how many a list holds. Agents see their teams' tickets, and the ones assigned to
them, that they follow, or that they opened; admins all; employees their own."""

from __future__ import annotations

from tests.assignment.conftest import ids, insert_note, put_on_team
from tests.factories import open_ticket
from tests.tickets.helpers import change_v1

PATHS = ("/api/v1/tickets", "/api/tickets/get")


async def can_get(client, headers, guid) -> bool:
    one = await client.get(f"/api/v1/tickets/{guid}", headers=headers)
    history = await client.get(f"/api/v1/tickets/{guid}/events", headers=headers)
    assert one.status_code == history.status_code, (one.text, history.text)
    assert one.status_code in (200, 404), one.text
    return one.status_code == 200


async def kinds(client, headers, guid) -> list[str]:
    response = await client.get(f"/api/v1/tickets/{guid}/events", headers=headers)
    assert response.status_code == 200, response.text
    return [e["kind"] for e in response.json()["items"]]


async def test_each_role_sees_exactly_its_tickets(client, crew, app):
    general = (await open_ticket(client, crew.author, "Стул", service="general"))["guid_ticket"]
    it = (await open_ticket(client, crew.other, "VPN", service="it"))["guid_ticket"]
    # An agent of `general` opens a ticket with IT: they are its author there.
    agents_own = (await open_ticket(client, crew.general_agent, "Ноутбук", service="it"))[
        "guid_ticket"
    ]
    # An IT ticket handed to an agent outside the team (while on it), who then leaves it.
    handed = (await open_ticket(client, crew.other, "Монитор", service="it"))["guid_ticket"]
    await put_on_team(client, crew.admin, "it", "2201")
    response = await client.post(
        f"/api/v1/tickets/{handed}/assign", json={"assignee": "2201"}, headers=crew.admin
    )
    assert response.status_code == 200, response.text
    gone = await client.delete("/api/v1/services/it/agents/2201", headers=crew.admin)
    assert gone.status_code == 204
    # An IT ticket that a `general` agent follows: 2002 follows it while briefly on IT.
    followed = (await open_ticket(client, crew.author, "Принтер", service="it"))["guid_ticket"]
    await put_on_team(client, crew.admin, "it", "2002")
    assert (
        await client.put(f"/api/v1/tickets/{followed}/followers/me", headers=crew.general_agent_2)
    ).status_code == 204
    assert (
        await client.delete("/api/v1/services/it/agents/2002", headers=crew.admin)
    ).status_code == 204

    everything = {general, it, agents_own, handed, followed}
    expected = {
        "author (employee)": (crew.author, {general, followed}),
        "other (employee)": (crew.other, {it, handed}),
        "team agent of general": (crew.general_agent, {general, agents_own}),
        "following agent": (crew.general_agent_2, {general, followed}),
        "team agent of it": (crew.it_agent, {it, agents_own, handed, followed}),
        "assigned agent outside the team": (crew.loose_agent, {handed}),
        "admin": (crew.admin, everything),
    }
    for who, (headers, visible) in expected.items():
        for path in PATHS:
            listed = await ids(client, headers, path)
            assert set(listed) == visible, (who, path)
            assert len(listed) == len(visible), (who, path)  # each once: the count is right
        for guid in everything:
            assert await can_get(client, headers, guid) is (guid in visible), (who, guid)

    # Filters narrow what one sees, never widen it.
    assert await ids(client, crew.general_agent, service="it") == [agents_own]
    assert await ids(client, crew.loose_agent, assignee="2201") == [handed]


async def test_an_agent_who_opened_a_ticket_elsewhere_is_only_its_author(client, crew, app):
    """No staff moves, no internal notes: the `it` team's notes on the `general` agent's
    request stay with the `it` team."""
    guid = (await open_ticket(client, crew.general_agent, "Ноутбук", service="it"))["guid_ticket"]
    await insert_note(app, guid, "2101", "проверить гарантию")

    assert "noted" in await kinds(client, crew.it_agent, guid)
    assert "noted" in await kinds(client, crew.admin, guid)
    assert "noted" not in await kinds(client, crew.general_agent, guid)
    assert await kinds(client, crew.general_agent, guid) == ["opened"]

    take = await change_v1(client, crew.general_agent, guid, "processing")
    assert take.status_code == 403, take.text
    assert take.json()["error"]["code"] == "transition_not_allowed"
    # What any author may do, they may: withdraw it.
    withdraw = await change_v1(client, crew.general_agent, guid, "closed_fail")
    assert withdraw.status_code == 200, withdraw.text


async def test_staff_of_a_ticket_see_its_notes_and_move_it(client, crew, app):
    """Team agent, assignee outside the team, and follower all count as its staff."""
    guid = (await open_ticket(client, crew.author, "VPN", service="it"))["guid_ticket"]
    await insert_note(app, guid, "2101", "внутреннее")
    assert "noted" not in await kinds(client, crew.author, guid)
    assert "noted" in await kinds(client, crew.it_agent, guid)

    # 2201 joins IT, is assigned, leaves IT: as the assignee they still are its staff.
    await put_on_team(client, crew.admin, "it", "2201")
    assigned = await client.post(
        f"/api/v1/tickets/{guid}/assign", json={"assignee": "2201"}, headers=crew.it_agent
    )
    assert assigned.status_code == 200, assigned.text
    await client.delete("/api/v1/services/it/agents/2201", headers=crew.admin)
    assert "noted" in await kinds(client, crew.loose_agent, guid)
    moved = await change_v1(client, crew.loose_agent, guid, "processing")
    assert moved.status_code == 200, moved.text

    # 2002 follows it while on IT, then leaves: as a follower they still are its staff.
    await put_on_team(client, crew.admin, "it", "2002")
    followed = await client.put(
        f"/api/v1/tickets/{guid}/followers/me", headers=crew.general_agent_2
    )
    assert followed.status_code == 204
    await client.delete("/api/v1/services/it/agents/2002", headers=crew.admin)
    assert "noted" in await kinds(client, crew.general_agent_2, guid)
    waiting = await change_v1(client, crew.general_agent_2, guid, "waiting")
    assert waiting.status_code == 200, waiting.text

    # Unfollowing ends it: the ticket is gone for them.
    unfollowed = await client.delete(
        f"/api/v1/tickets/{guid}/followers/me", headers=crew.general_agent_2
    )
    assert unfollowed.status_code == 204
    assert not await can_get(client, crew.general_agent_2, guid)
    # And an agent of another team never sees it.
    assert not await can_get(client, crew.general_agent, guid)


async def test_a_person_removed_from_the_team_stops_seeing_its_tickets(client, crew):
    guid = (await open_ticket(client, crew.author, "VPN", service="it"))["guid_ticket"]
    assert await can_get(client, crew.it_agent, guid)
    await client.delete("/api/v1/services/it/agents/2101", headers=crew.admin)
    assert not await can_get(client, crew.it_agent, guid)
    assert await ids(client, crew.it_agent) == []
    # An agent demoted to employee sees only their own, whatever teams they were on.
    await put_on_team(client, crew.admin, "it", "2101")
    demoted = await client.put(
        "/api/v1/users/2101/role", json={"role": "employee"}, headers=crew.admin
    )
    assert demoted.status_code == 200
    assert not await can_get(client, crew.it_agent, guid)
    assert (await change_v1(client, crew.it_agent, guid, "processing")).status_code == 404
