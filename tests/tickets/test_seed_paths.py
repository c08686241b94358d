"""The seed's paths /api/tickets/*: `{"response": ...}` bodies, POST (JSON) and GET (query)."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.factories import open_ticket
from tests.tickets.helpers import events, move_to, read

TEXT = "Не работает VPN\nС утра не подключается из дома. <script>x</script> 🙂"


async def seed_open(client, headers, method, **params):
    if method == "POST":
        return await client.post("/api/tickets/open", json=params, headers=headers)
    return await client.get("/api/tickets/open", params=params, headers=headers)


async def seed_change(client, headers, method, **params):
    if method == "POST":
        return await client.post("/api/tickets/change_status", json=params, headers=headers)
    return await client.get("/api/tickets/change_status", params=params, headers=headers)


METHODS = pytest.mark.parametrize("method", ["POST", "GET"])


@METHODS
async def test_open_answers_the_ticket_and_the_action(client, people, method, redis_client):
    response = await seed_open(client, people.author.headers, method, text=TEXT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"response"}
    # Flat: the ticket's fields beside guid_action, as the original clients read them.
    ticket = dict(body["response"])
    guid_action = ticket.pop("guid_action")
    assert guid_action == response.headers["x-action-id"]
    assert ticket["text"] == TEXT
    assert ticket["title"] == "Не работает VPN"
    assert (ticket["status"], ticket["priority"], ticket["service"]) == (
        "open",
        "normal",
        "general",
    )
    assert ticket["author"] == people.author.discord_id
    assert ticket["assignee"] is None
    assert ticket["closed_at"] is None
    assert ticket["version"] == 1
    assert await read(client, people.author.headers, ticket["guid_ticket"]) == ticket
    opened = (await events(client, people.author.headers, ticket["guid_ticket"]))[0]
    assert (opened["kind"], opened["guid_action"]) == ("opened", guid_action)

    record = json.loads(redis_client.get(f"logs:actions:{guid_action}"))
    assert record["type"] == "open_ticket"
    assert record["actor"] == people.author.discord_id
    assert record["guid_ticket"] == ticket["guid_ticket"]
    assert record["outcome"] == "success"


@METHODS
async def test_open_with_title_service_and_priority(client, people, method):
    created = await client.post(
        "/api/v1/services", json={"slug": "hr", "name": "HR"}, headers=people.admin.headers
    )
    assert created.status_code == 201
    response = await seed_open(
        client, people.author.headers, method, text=TEXT, title="VPN", service="hr", priority="high"
    )
    assert response.status_code == 200, response.text
    ticket = response.json()["response"]
    assert (ticket["title"], ticket["service"], ticket["priority"]) == ("VPN", "hr", "high")


@METHODS
async def test_open_unknown_service_is_400(client, people, method):
    response = await seed_open(client, people.author.headers, method, text="x", service="nope")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "unknown_service"


@METHODS
@pytest.mark.parametrize(
    "params",
    [{}, {"title": "t"}, {"text": "x", "priority": "asap"}],
    ids=["none", "no-text", "prio"],
)
async def test_open_without_text_or_with_bad_priority_is_422(client, people, method, params):
    response = await seed_open(client, people.author.headers, method, **params)
    assert response.status_code == 422, response.text


async def test_seed_access_token_header_is_accepted(client, people):
    token = people.author.headers["Authorization"].removeprefix("Bearer ")
    response = await client.post(
        "/api/tickets/open", json={"text": "x"}, headers={"access_token": token}
    )
    assert response.status_code == 200, response.text
    assert response.json()["response"]["author"] == people.author.discord_id


async def test_open_without_a_token_is_401(client):
    assert (await client.post("/api/tickets/open", json={"text": "x"})).status_code == 401


@METHODS
async def test_change_status_answers_the_changed_ticket(client, people, method, redis_client):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    response = await seed_change(
        client, people.agent.headers, method, guid_ticket=guid, new_status="processing"
    )
    assert response.status_code == 200, response.text
    result = dict(response.json()["response"])
    guid_action = result.pop("guid_action")
    assert guid_action == response.headers["x-action-id"]
    assert result["status"] == "processing"
    assert result["assignee"] == people.agent.discord_id
    assert result["version"] == 2
    assert result == await read(client, people.agent.headers, guid)
    last = (await events(client, people.agent.headers, guid))[-1]
    assert (last["from_status"], last["to_status"], last["guid_action"]) == (
        "open",
        "processing",
        guid_action,
    )
    record = json.loads(redis_client.get(f"logs:actions:{guid_action}"))
    assert (record["type"], record["guid_ticket"], record["status_code"]) == (
        "change_status",
        guid,
        200,
    )


@METHODS
@pytest.mark.parametrize(
    ("start", "new", "actor", "code", "error"),
    [
        ("open", "open", "admin", 400, "same_status"),
        ("processing", "processing", "author", 400, "same_status"),
        ("closed_success", "processing", "agent", 400, "invalid_transition"),
        ("closed_fail", "closed_success", "author", 400, "invalid_transition"),
        ("open", "finished", "admin", 400, "invalid_status"),
        ("open", "OPEN", "agent", 400, "invalid_status"),
        ("open", "processing", "author", 403, "transition_not_allowed"),
        ("processing", "closed_success", "author", 403, "transition_not_allowed"),
        ("open", "closed_fail", "other_employee", 404, "ticket_not_found"),
    ],
)
async def test_change_status_refusals(client, people, method, start, new, actor, code, error):
    ticket = await open_ticket(client, people.author.headers)
    guid = ticket["guid_ticket"]
    await move_to(client, people.admin.headers, guid, start)
    before = await read(client, people.admin.headers, guid)
    response = await seed_change(
        client, people.by_role(actor).headers, method, guid_ticket=guid, new_status=new
    )
    assert response.status_code == code, response.text
    assert response.json()["error"]["code"] == error
    assert await read(client, people.admin.headers, guid) == before


@METHODS
async def test_a_refused_change_is_logged_as_an_error(client, people, method, redis_client):
    ticket = await open_ticket(client, people.author.headers)
    response = await seed_change(
        client,
        people.author.headers,
        method,
        guid_ticket=ticket["guid_ticket"],
        new_status="processing",
    )
    assert response.status_code == 403
    record = json.loads(redis_client.get(f"logs:actions:{response.headers['x-action-id']}"))
    assert (record["outcome"], record["status_code"], record["error"]) == (
        "error",
        403,
        "transition_not_allowed",
    )


@METHODS
async def test_change_status_of_an_unknown_ticket_is_404(client, people, method):
    response = await seed_change(
        client, people.admin.headers, method, guid_ticket=str(uuid.uuid4()), new_status="open"
    )
    assert response.status_code == 404, response.text


@METHODS
@pytest.mark.parametrize(
    "params",
    [
        {"new_status": "processing"},
        {"guid_ticket": "VALID"},
        {},
        {"guid_ticket": "not-a-uuid", "new_status": "processing"},
        {"guid_ticket": "12345", "new_status": "processing"},
    ],
    ids=["no-guid", "no-status", "nothing", "malformed-guid", "number-guid"],
)
async def test_change_status_missing_or_malformed_parameter_is_422(client, people, method, params):
    ticket = await open_ticket(client, people.author.headers)
    params = {k: ticket["guid_ticket"] if v == "VALID" else v for k, v in params.items()}
    response = await seed_change(client, people.admin.headers, method, **params)
    assert response.status_code == 422, response.text
    assert (await read(client, people.admin.headers, ticket["guid_ticket"]))["version"] == 1


async def test_get_lists_wrapped_newest_first(client, people):
    first = await open_ticket(client, people.author.headers, "первая")
    second = await open_ticket(client, people.author.headers, "вторая")
    response = await client.get("/api/tickets/get", headers=people.author.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"response"}
    assert set(body["response"]) == {"relevant_tickets", "next_cursor"}
    assert body["response"]["relevant_tickets"] == [second, first]
    assert body["response"]["next_cursor"] is None


async def test_get_leaves_out_tickets_the_caller_may_not_see(client, people):
    mine = await open_ticket(client, people.author.headers, "моя")
    theirs = await open_ticket(client, people.other_employee.headers, "чужая")
    for person, expected in (
        (people.author, [mine["guid_ticket"]]),
        (people.other_employee, [theirs["guid_ticket"]]),
        (people.agent, [theirs["guid_ticket"], mine["guid_ticket"]]),
    ):
        response = await client.get("/api/tickets/get", headers=person.headers)
        assert response.status_code == 200
        found = [t["guid_ticket"] for t in response.json()["response"]["relevant_tickets"]]
        assert found == expected, person
    # Asking for somebody else's ticket by id or by author finds nothing, not an error.
    for params in ({"guid_ticket": theirs["guid_ticket"]}, {"author": "1002"}):
        response = await client.get(
            "/api/tickets/get", params=params, headers=people.author.headers
        )
        assert response.status_code == 200
        assert response.json()["response"]["relevant_tickets"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "done"}, 400),
        ({"cursor": "garbage"}, 400),
        ({"limit": 0}, 422),
        ({"limit": 201}, 422),
        ({"guid_ticket": "nope"}, 422),
        ({"created_after": "yesterday"}, 422),
    ],
)
async def test_get_refuses_bad_parameters(client, people, params, code):
    await open_ticket(client, people.author.headers)
    response = await client.get("/api/tickets/get", params=params, headers=people.author.headers)
    assert response.status_code == code, response.text
    assert "error" in response.json()
