"""The action log: `X-Action-Id` on every response, `logs:actions:<guid_action>` in Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime

import pytest

from tests.factories import auth_headers, join_team, open_ticket, token_for
from ticket_service.users.models import Role

NINETY_DAYS = 90 * 86400
FIELDS = {
    "guid_action",
    "type",
    "actor",
    "guid_ticket",
    "params",
    "outcome",
    "status_code",
    "error",
    "started_at",
    "finished_at",
    "duration_ms",
    "request_id",
}


def action_id(response) -> str:
    value = response.headers["x-action-id"]
    assert str(uuid.UUID(value)) == value
    return value


def record_of(redis_client, response) -> dict:
    """The logged record of the action behind `response`, with its TTL checked."""
    key = f"logs:actions:{action_id(response)}"
    raw = redis_client.get(key)
    assert raw is not None, f"no {key}"
    ttl = redis_client.ttl(key)
    assert NINETY_DAYS - 60 <= ttl <= NINETY_DAYS
    record = json.loads(raw)
    assert set(record) == FIELDS
    assert record["guid_action"] == action_id(response)
    started = datetime.fromisoformat(record["started_at"])
    finished = datetime.fromisoformat(record["finished_at"])
    assert started.tzinfo is not None
    assert started <= finished
    assert record["duration_ms"] >= 0
    return record


@pytest.fixture
async def employee(app):
    return await auth_headers(app, "3001")


@pytest.fixture
async def agent(app):
    headers = await auth_headers(app, "3900", Role.agent)
    await join_team(app, "3900")
    return headers


async def test_every_response_carries_an_action_id(client, employee):
    seen = set()
    responses = [
        await client.get("/health/live"),
        await client.get("/api/v1/tickets"),  # 401
        await client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"}),  # 401
        await client.get("/no/such/route"),  # 404
        await client.get(f"/api/v1/tickets/{uuid.uuid4()}", headers=employee),  # 404
        await client.post(
            "/api/v1/tickets",
            content=b"{" + b" " * (70 * 1024) + b"}",
            headers={**employee, "Content-Type": "application/json"},
        ),  # 413
        await client.post("/api/v1/tickets", json={"text": ""}, headers=employee),  # 422
        await client.get("/openapi.json"),
    ]
    assert [r.status_code for r in responses] == [200, 401, 401, 404, 404, 413, 422, 200]
    for r in responses:
        seen.add(action_id(r))
    assert len(seen) == len(responses)  # one new id per request


async def test_request_id_is_echoed(client, employee, redis_client):
    r = await client.get("/api/v1/tickets", headers={**employee, "X-Request-ID": "trace-abc-42"})
    assert r.headers["x-request-id"] == "trace-abc-42"
    assert record_of(redis_client, r)["request_id"] == "trace-abc-42"
    r = await client.get("/no/such/route", headers={"X-Request-ID": "trace-404"})
    assert r.headers["x-request-id"] == "trace-404"
    # Without one, the service makes one up and still reports it.
    r = await client.get("/api/v1/tickets", headers=employee)
    assert r.headers["x-request-id"]
    assert record_of(redis_client, r)["request_id"] == r.headers["x-request-id"]


async def test_open_ticket_v1_is_logged(app, client, redis_client):
    token = await token_for(app, "3001")
    r = await client.post(
        "/api/v1/tickets",
        json={"text": "Нужен доступ к Jira", "priority": "high"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201
    record = record_of(redis_client, r)
    assert record["type"] == "open_ticket"
    assert record["actor"] == "3001"
    assert record["guid_ticket"] == r.json()["guid_ticket"]
    assert record["params"] == {"priority": "high"}
    assert (record["outcome"], record["status_code"], record["error"]) == ("success", 201, None)
    assert token not in json.dumps(record)


async def test_seed_open_with_access_token_header_is_logged_without_token(
    app, client, redis_client
):
    token = await token_for(app, "3001")
    r = await client.get(
        "/api/tickets/open",
        params={"text": "Сломался стул", "service": "general", "access_token": token},
        headers={"access_token": token},
    )
    assert r.status_code == 200, r.text
    body = r.json()["response"]
    assert body["guid_action"] == action_id(r)
    record = record_of(redis_client, r)
    assert record["type"] == "open_ticket"
    assert record["guid_ticket"] == body["guid_ticket"]
    assert record["params"] == {"service": "general", "priority": "normal"}
    assert token not in json.dumps(record)


async def test_guid_action_matches_header_body_and_history(client, employee, agent, redis_client):
    r = await client.post("/api/tickets/open", json={"text": "Сломалась мышь"}, headers=employee)
    opened = r.json()["response"]
    assert opened["guid_action"] == action_id(r)
    guid = opened["guid_ticket"]

    r2 = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": guid, "new_status": "processing"},
        headers=agent,
    )
    assert r2.status_code == 200, r2.text
    assert r2.json()["response"]["guid_action"] == action_id(r2)
    record = record_of(redis_client, r2)
    assert record["type"] == "change_status"
    assert record["actor"] == "3900"
    assert record["guid_ticket"] == guid
    assert record["params"] == {"guid_ticket": guid, "new_status": "processing"}
    assert record["outcome"] == "success"

    r3 = await client.get(
        "/api/tickets/change_status",
        params={"guid_ticket": guid, "new_status": "closed_success"},
        headers=agent,
    )
    assert r3.status_code == 200, r3.text
    assert record_of(redis_client, r3)["type"] == "change_status"

    r4 = await client.post(f"/api/v1/tickets/{guid}/status", json={"status": "open"}, headers=agent)
    assert r4.status_code == 200, r4.text
    assert record_of(redis_client, r4)["params"] == {"status": "open"}

    events = (await client.get(f"/api/v1/tickets/{guid}/events", headers=employee)).json()["items"]
    assert [(e["kind"], e["guid_action"]) for e in events] == [
        ("opened", action_id(r)),
        ("assigned", action_id(r2)),  # taking it into work assigns it, in the same action
        ("status_changed", action_id(r2)),
        ("status_changed", action_id(r3)),
        ("status_changed", action_id(r4)),
    ]


async def test_listing_is_logged_for_seed_and_v1(client, employee, redis_client):
    await open_ticket(client, employee)
    r = await client.get("/api/tickets/get", params={"status": "open"}, headers=employee)
    assert r.status_code == 200
    record = record_of(redis_client, r)
    assert record["type"] == "get_tickets"
    assert record["actor"] == "3001"
    assert record["params"]["status"] == "open"
    assert record["outcome"] == "success"

    r = await client.get("/api/v1/tickets", params={"priority": "normal"}, headers=employee)
    record = record_of(redis_client, r)
    assert record["type"] == "get_tickets"
    assert record["params"]["priority"] == "normal"


async def test_failed_actions_are_logged(client, employee, app, redis_client):
    ticket = await open_ticket(client, employee)
    guid = ticket["guid_ticket"]
    # An employee may not take a ticket into work: 403.
    r = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": guid, "new_status": "processing"},
        headers=employee,
    )
    assert r.status_code == 403
    record = record_of(redis_client, r)
    assert record["type"] == "change_status"
    assert record["actor"] == "3001"
    assert record["guid_ticket"] == guid
    assert (record["outcome"], record["status_code"]) == ("error", 403)
    assert record["error"] == r.json()["error"]["code"] == "transition_not_allowed"

    r = await client.post(
        "/api/v1/tickets", json={"text": "x", "service": "nonexistent"}, headers=employee
    )
    record = record_of(redis_client, r)
    assert (record["type"], record["status_code"], record["error"]) == (
        "open_ticket",
        400,
        "unknown_service",
    )

    other = await auth_headers(app, "3002")
    r = await client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "closed_fail"}, headers=other
    )
    record = record_of(redis_client, r)
    assert (record["actor"], record["status_code"], record["error"]) == (
        "3002",
        404,
        "ticket_not_found",
    )

    r = await client.get("/api/tickets/get", params={"status": "bogus"}, headers=employee)
    record = record_of(redis_client, r)
    assert (record["type"], record["status_code"], record["error"]) == (
        "get_tickets",
        400,
        "invalid_status",
    )

    # A payload the schema refuses is an attempt too.
    r = await client.post("/api/tickets/open", json={"text": " "}, headers=employee)
    record = record_of(redis_client, r)
    assert (record["type"], record["status_code"], record["error"]) == (
        "open_ticket",
        422,
        "validation_error",
    )


async def test_ttl_follows_the_setting(database_url, redis_url, discord, redis_client):
    from tests.api.conftest import running
    from tests.conftest import make_settings

    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), action_log_ttl_days=2
    )
    async with running(settings) as (app, client):
        headers = await auth_headers(app, "3001")
        r = await client.get("/api/v1/tickets", headers=headers)
    ttl = redis_client.ttl(f"logs:actions:{action_id(r)}")
    assert 2 * 86400 - 60 <= ttl <= 2 * 86400


async def test_refused_requests_are_logged_too(app, client, redis_client):
    """Failed sign-in attempts and forbidden admin calls are what an auditor looks for."""
    anonymous = await client.post("/api/v1/tickets", json={"text": "x"})
    assert anonymous.status_code == 401
    record = json.loads(redis_client.get(f"logs:actions:{anonymous.headers['x-action-id']}"))
    assert record["type"] == "open_ticket"
    assert record["actor"] is None
    assert (record["status_code"], record["outcome"], record["error"]) == (
        401,
        "error",
        "missing_token",
    )

    employee = await auth_headers(app, "1001")
    forbidden = await client.post(
        "/api/v1/services", json={"slug": "it", "name": "IT"}, headers=employee
    )
    assert forbidden.status_code == 403
    record = json.loads(redis_client.get(f"logs:actions:{forbidden.headers['x-action-id']}"))
    assert (record["type"], record["actor"], record["error"]) == (
        "create_service",
        "1001",
        "admins_only",
    )


async def test_records_of_concurrent_requests_all_arrive(client, employee, redis_client):
    # Records of requests that finish together share a Redis pipeline; none may be lost
    # or mixed up with another request's.
    responses = await asyncio.gather(
        *(
            client.get("/api/v1/tickets", params={"priority": "urgent"}, headers=employee)
            for _ in range(24)
        )
    )
    assert {r.status_code for r in responses} == {200}
    records = [record_of(redis_client, r) for r in responses]
    assert {r["type"] for r in records} == {"get_tickets"}
    assert len({r["guid_action"] for r in records}) == 24
    assert all(r["params"] == {"priority": "urgent", "limit": 50} for r in records)
