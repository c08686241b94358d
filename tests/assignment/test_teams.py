"""An admin builds each service's team; the assignment mode is a service setting."""

from __future__ import annotations

from tests.assignment.conftest import put_on_team
from ticket_service.assignment import service as assignment


async def team(client, admin, slug="general"):
    response = await client.get(f"/api/v1/services/{slug}/agents", headers=admin)
    assert response.status_code == 200, response.text
    return [a["discord_id"] for a in response.json()["items"]]


async def test_an_admin_puts_agents_on_a_team_and_takes_them_off(client, crew):
    assert await team(client, crew.admin) == ["2001", "2002"]
    assert await team(client, crew.admin, "it") == ["2101"]

    member = await put_on_team(client, crew.admin, "it", "3001")  # admins may be on teams
    assert member["discord_id"] == "3001"
    assert member["role"] == "admin"
    assert member["available"] is True
    assert member["last_assigned_at"] is None
    # Idempotent: twice on the team is once on the team.
    await put_on_team(client, crew.admin, "it", "3001")
    assert await team(client, crew.admin, "it") == ["2101", "3001"]

    removed = await client.delete("/api/v1/services/it/agents/2101", headers=crew.admin)
    assert removed.status_code == 204
    again = await client.delete("/api/v1/services/it/agents/2101", headers=crew.admin)
    assert again.status_code == 204
    assert await team(client, crew.admin, "it") == ["3001"]


async def test_bad_team_requests(client, crew):
    admin = crew.admin
    cases = [
        ("PUT", "/api/v1/services/nope/agents/2001", 404, "service_not_found"),
        ("GET", "/api/v1/services/nope/agents", 404, "service_not_found"),
        ("DELETE", "/api/v1/services/nope/agents/2001", 404, "service_not_found"),
        ("PUT", "/api/v1/services/general/agents/999999", 404, "user_not_found"),
        ("DELETE", "/api/v1/services/general/agents/999999", 404, "user_not_found"),
        ("PUT", "/api/v1/services/general/agents/abc", 422, "validation_error"),
        ("PUT", "/api/v1/services/general/agents/1" + "0" * 40, 422, "validation_error"),
        ("PUT", "/api/v1/services/Bad%20Slug/agents/2001", 422, "validation_error"),
        # An employee cannot work tickets: not on a team either.
        ("PUT", "/api/v1/services/general/agents/1001", 422, "not_staff"),
    ]
    for method, url, status, code in cases:
        response = await client.request(method, url, headers=admin)
        assert response.status_code == status, (url, response.text)
        assert response.json()["error"]["code"] == code, (url, response.text)
    assert await team(client, admin) == ["2001", "2002"]


async def test_the_assignment_mode_is_set_by_an_admin_and_shown(client, crew):
    listed = await client.get("/api/v1/services", headers=crew.author)
    assert {s["slug"]: s["assignment"] for s in listed.json()["items"]} == {
        "general": "manual",
        "it": "manual",
    }
    for mode in ("round_robin", "least_loaded", "manual"):
        response = await client.patch(
            "/api/v1/services/it", json={"assignment": mode}, headers=crew.admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["assignment"] == mode
    created = await client.post(
        "/api/v1/services",
        json={"slug": "hr", "name": "HR", "assignment": "round_robin"},
        headers=crew.admin,
    )
    assert created.json()["assignment"] == "round_robin"

    for bad in ("random", "", None, 1):
        response = await client.patch(
            "/api/v1/services/it", json={"assignment": bad}, headers=crew.admin
        )
        if bad is None:  # null leaves it as it is
            assert response.json()["assignment"] == "manual"
            continue
        assert response.status_code == 422, (bad, response.text)
    agent = await client.patch(
        "/api/v1/services/it", json={"assignment": "round_robin"}, headers=crew.it_agent
    )
    assert agent.status_code == 403


async def test_the_team_as_the_front_doors_read_it(app, crew):
    """`team_of` (for the web UI and Discord): the members, in the order they joined."""
    async with app.state.sessionmaker() as session:
        assert [u.discord_id for u in await assignment.team_of(session, "general")] == [
            "2001",
            "2002",
        ]
        assert [u.discord_id for u in await assignment.team_of(session, "it")] == ["2101"]
