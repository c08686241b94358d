"""The v1 ticket API: open, read, change status (with versions), history, visibility."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime

import pytest

from tests.factories import auth_headers, open_ticket
from tests.tickets.conftest import join_team
from tests.tickets.helpers import change_v1, events, move_to, read
from ticket_service.users.models import Role

TEXT = 'Принтер на 3 этаже\n<b>не печатает</b> 🖨️ & "кавычки"\n\nс утра'


async def add_service(client, admin_headers, slug, active=True):
    response = await client.post(
        "/api/v1/services", json={"slug": slug, "name": slug.upper()}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    if not active:
        response = await client.patch(
            f"/api/v1/services/{slug}", json={"is_active": False}, headers=admin_headers
        )
        assert response.status_code == 200, response.text


async def test_open_answers_201_with_location_of_the_new_ticket(client, people):
    response = await client.post(
        "/api/v1/tickets", json={"text": TEXT}, headers=people.author.headers
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    assert response.headers["location"] == f"/api/v1/tickets/{ticket['guid_ticket']}"
    again = await client.get(response.headers["location"], headers=people.author.headers)
    assert again.status_code == 200
    assert again.json() == ticket

    assert ticket["title"] == "Принтер на 3 этаже"
    assert ticket["text"] == TEXT
    assert ticket["status"] == "open"
    assert ticket["priority"] == "normal"
    assert ticket["service"] == "general"
    assert ticket["author"] == people.author.discord_id
    assert ticket["assignee"] is None
    assert ticket["closed_at"] is None
    assert ticket["version"] == 1
    uuid.UUID(ticket["guid_ticket"])
    datetime.fromisoformat(ticket["created_at"])


async def test_numbers_grow_with_each_new_ticket(client, people):
    first = await open_ticket(client, people.author.headers, "one")
    second = await open_ticket(client, people.other_employee.headers, "two")
    assert second["number"] > first["number"]
    assert second["guid_ticket"] != first["guid_ticket"]


async def test_given_title_service_and_priority_are_kept(client, people):
    await add_service(client, people.admin.headers, "it")
    ticket = await open_ticket(
        client, people.author.headers, TEXT, title="Сломан принтер", service="it", priority="urgent"
    )
    assert (ticket["title"], ticket["service"], ticket["priority"]) == (
        "Сломан принтер",
        "it",
        "urgent",
    )
    assert ticket["text"] == TEXT


async def test_a_very_long_first_line_gives_a_short_title_and_keeps_the_text(client, people):
    text = "А" * 500 + "\nвторая строка"
    ticket = await open_ticket(client, people.author.headers, text)
    assert 0 < len(ticket["title"]) <= 200
    assert ticket["title"].startswith("А" * 100)
    assert ticket["text"] == text


@pytest.mark.parametrize("slug", ["nope", "retired"])
async def test_unknown_or_inactive_service_is_400(client, people, slug):
    await add_service(client, people.admin.headers, "retired", active=False)
    response = await client.post(
        "/api/v1/tickets", json={"text": "x", "service": slug}, headers=people.author.headers
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "unknown_service"
    listed = await client.get("/api/v1/tickets", headers=people.admin.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": "   \n "}, {"text": "x", "priority": "asap"}, {"title": "t"}],
    ids=["no-text", "empty", "blank", "bad-priority", "title-only"],
)
async def test_invalid_ticket_is_422(client, people, body):
    response = await client.post("/api/v1/tickets", json=body, headers=people.author.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_opening_needs_a_token(client):
    response = await client.post("/api/v1/tickets", json={"text": "x"})
    assert response.status_code == 401


async def test_who_sees_one_ticket(client, people):
    ticket = await open_ticket(client, people.author.headers)
    url = f"/api/v1/tickets/{ticket['guid_ticket']}"
    for person in (people.author, people.agent, people.admin):
        response = await client.get(url, headers=person.headers)
        assert response.status_code == 200, person
        assert response.json()["guid_ticket"] == ticket["guid_ticket"]
    hidden = await client.get(url, headers=people.other_employee.headers)
    assert hidden.status_code == 404
    unknown = await client.get(f"/api/v1/tickets/{uuid.uuid4()}", headers=people.admin.headers)
    assert unknown.status_code == 404
    # Hidden and unknown look the same: nothing tells the ticket exists.
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"]
    malformed = await client.get("/api/v1/tickets/not-a-uuid", headers=people.admin.headers)
    assert malformed.status_code == 422


async def test_another_employees_ticket_is_404_everywhere(client, people):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    stranger = people.other_employee.headers
    assert (await client.get(f"/api/v1/tickets/{guid}", headers=stranger)).status_code == 404
    assert (await client.get(f"/api/v1/tickets/{guid}/events", headers=stranger)).status_code == 404
    assert (await change_v1(client, stranger, guid, "closed_fail")).status_code == 404
    listed = await client.get("/api/v1/tickets", params={"guid_ticket": guid}, headers=stranger)
    assert listed.status_code == 200
    assert listed.json()["items"] == []
    assert (await read(client, people.author.headers, guid))["status"] == "open"


async def test_history_tells_the_whole_story(client, people):
    opened = await client.post(
        "/api/v1/tickets", json={"text": "Нужен доступ"}, headers=people.author.headers
    )
    guid = opened.json()["guid_ticket"]
    take = await change_v1(client, people.agent.headers, guid, "processing")
    done = await change_v1(client, people.agent.headers, guid, "closed_success")
    reopen = await change_v1(client, people.author.headers, guid, "open")
    refused = await change_v1(client, people.author.headers, guid, "processing")
    assert [r.status_code for r in (take, done, reopen, refused)] == [200, 200, 200, 403]

    history = await events(client, people.author.headers, guid)
    assert [
        (e["kind"], e["from_status"], e["to_status"], e["actor"], e["guid_action"]) for e in history
    ] == [
        ("opened", None, "open", "1001", opened.headers["x-action-id"]),
        # Taking it into work hands it to the agent: its own event, in the same action.
        ("assigned", None, None, "2001", take.headers["x-action-id"]),
        ("status_changed", "open", "processing", "2001", take.headers["x-action-id"]),
        ("status_changed", "processing", "closed_success", "2001", done.headers["x-action-id"]),
        ("status_changed", "closed_success", "open", "1001", reopen.headers["x-action-id"]),
    ]
    times = [datetime.fromisoformat(e["created_at"]) for e in history]
    assert times == sorted(times)
    assert await events(client, people.agent.headers, guid) == history


async def test_events_of_an_unknown_ticket_is_404(client, people):
    response = await client.get(
        f"/api/v1/tickets/{uuid.uuid4()}/events", headers=people.admin.headers
    )
    assert response.status_code == 404


async def test_stale_version_is_409_and_changes_nothing(client, people):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    taken = await change_v1(client, people.agent.headers, guid, "processing", version=1)
    assert taken.status_code == 200, taken.text
    assert taken.json()["version"] == 2

    stale = await change_v1(client, people.admin.headers, guid, "closed_fail", version=1)
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "version_conflict"
    current = await read(client, people.admin.headers, guid)
    assert (current["status"], current["version"]) == ("processing", 2)
    kinds = [e["kind"] for e in await events(client, people.admin.headers, guid)]
    assert kinds == ["opened", "assigned", "status_changed"]

    fresh = await change_v1(client, people.admin.headers, guid, "closed_fail", version=2)
    assert fresh.status_code == 200, fresh.text
    assert (fresh.json()["status"], fresh.json()["version"]) == ("closed_fail", 3)


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "open", "version": 0}, {"status": "open", "extra": 1}],
    ids=["no-status", "version-0", "unknown-field"],
)
async def test_invalid_status_change_body_is_422(client, people, body):
    ticket = await open_ticket(client, people.author.headers)
    response = await client.post(
        f"/api/v1/tickets/{ticket['guid_ticket']}/status", json=body, headers=people.admin.headers
    )
    assert response.status_code == 422, response.text


async def test_unknown_status_value_is_400(client, people):
    ticket = await open_ticket(client, people.author.headers)
    response = await change_v1(client, people.admin.headers, ticket["guid_ticket"], "done")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_status"


async def test_status_change_of_an_unknown_ticket_is_404(client, people):
    response = await change_v1(client, people.admin.headers, str(uuid.uuid4()), "processing")
    assert response.status_code == 404


async def test_an_agent_taking_a_ticket_becomes_its_assignee(client, people, app):
    second_agent = await auth_headers(app, "2002", Role.agent)
    await join_team(client, people.admin, "2002")
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]

    taken = await change_v1(client, people.agent.headers, guid, "processing")
    assert taken.json()["assignee"] == people.agent.discord_id
    back = await change_v1(client, people.agent.headers, guid, "open")
    assert back.json()["assignee"] == people.agent.discord_id
    # It already has an assignee: another agent taking it does not steal it.
    retaken = await change_v1(client, second_agent, guid, "processing")
    assert retaken.status_code == 200
    assert retaken.json()["assignee"] == people.agent.discord_id


async def test_closing_without_taking_leaves_no_assignee(client, people):
    ticket = await open_ticket(client, people.author.headers)
    closed = await change_v1(client, people.agent.headers, ticket["guid_ticket"], "closed_success")
    assert closed.json()["assignee"] is None
    assert closed.json()["closed_at"] is not None


async def test_reopening_clears_closed_at(client, people):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move_to(client, people.admin.headers, guid, "closed_fail")
    reopened = await change_v1(client, people.author.headers, guid, "open")
    assert reopened.status_code == 200
    assert reopened.json()["closed_at"] is None


async def test_concurrent_takes_let_exactly_one_win(client, people):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    responses = await asyncio.gather(
        *(change_v1(client, people.agent.headers, guid, "processing") for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1, [r.text for r in responses]
    assert set(codes) <= {200, 400, 409}
    current = await read(client, people.admin.headers, guid)
    assert (current["status"], current["version"]) == ("processing", 2)
    changes = [e for e in await events(client, people.admin.headers, guid) if e["kind"] != "opened"]
    assert [e["kind"] for e in changes] == ["assigned", "status_changed"]
    assert {e["guid_action"] for e in changes} == {
        r.headers["x-action-id"] for r in responses if r.status_code == 200
    }


async def test_concurrent_different_changes_agree_with_history(client, people):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    targets = ["processing", "closed_success", "closed_fail", "processing", "closed_fail"]
    responses = await asyncio.gather(
        *(change_v1(client, people.admin.headers, guid, t) for t in targets)
    )
    assert all(r.status_code in (200, 400, 409) for r in responses), [r.text for r in responses]
    winners = [r for r in responses if r.status_code == 200]
    current = await read(client, people.admin.headers, guid)
    history = await events(client, people.admin.headers, guid)
    changes = [e for e in history if e["kind"] == "status_changed"]
    assert len(winners) >= 1
    assert current["version"] == 1 + len(winners) == 1 + len(changes)
    assert changes[-1]["to_status"] == current["status"]
    assert {e["guid_action"] for e in changes} == {r.headers["x-action-id"] for r in winners}
    # Each recorded change starts where the previous one ended.
    assert changes[0]["from_status"] == "open"
    for earlier, later in itertools.pairwise(changes):
        assert later["from_status"] == earlier["to_status"]
