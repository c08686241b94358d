"""Acceptance: `Prefer: respond-async` answers 202 at once; refusals stay immediate."""

from __future__ import annotations

import pytest

from tests.async_mode.conftest import (
    ASYNC,
    action,
    action_rows,
    assert_accepted,
    jobs,
    ticket_count,
)
from tests.factories import open_ticket


async def _queue(client, people, endpoint: str, prefer: str = "respond-async"):
    headers = {**people.author, "Prefer": prefer}
    if endpoint == "seed_open":
        return await client.post("/api/tickets/open", json={"text": "VPN"}, headers=headers)
    if endpoint == "v1_open":
        return await client.post("/api/v1/tickets", json={"text": "VPN"}, headers=headers)
    ticket = await open_ticket(client, people.author)
    body = {"guid_ticket": ticket["guid_ticket"], "new_status": "closed_fail"}
    return await client.post("/api/tickets/change_status", json=body, headers=headers)


ENDPOINTS = [
    ("seed_open", "open_ticket"),
    ("v1_open", "open_ticket"),
    ("seed_change", "change_status"),
]


@pytest.mark.parametrize(("endpoint", "type_"), ENDPOINTS)
async def test_202_queued_and_nothing_done_yet(client, people, database_url, endpoint, type_):
    response = await _queue(client, people, endpoint)
    guid = assert_accepted(response)
    assert ticket_count(database_url) == (1 if endpoint == "seed_change" else 0)

    assert await action(client, people.author, guid) == {
        "guid_action": guid,
        "type": type_,
        "status": "queued",
        "result": None,
        "error": None,
        "status_code": None,
    }
    assert jobs(database_url) == [
        {"status": "todo", "queue_name": "actions", "args": {"guid_action": guid}}
    ]
    [row] = action_rows(database_url)
    assert (str(row["guid_action"]), row["type"], row["status"]) == (guid, type_, "queued")


@pytest.mark.parametrize(
    "prefer", ["respond-async, wait=10", "RESPOND-ASYNC", "return=minimal; x=1, respond-async"]
)
async def test_prefer_is_read_as_rfc_7240_says(client, people, prefer):
    assert_accepted(await _queue(client, people, "v1_open", prefer))


@pytest.mark.parametrize("prefer", ["return=minimal", "respond-async-later", "wait=5"])
async def test_other_preferences_are_answered_synchronously(client, people, database_url, prefer):
    response = await _queue(client, people, "v1_open", prefer)
    assert response.status_code == 201, response.text
    assert "preference-applied" not in response.headers
    assert action_rows(database_url) == []


@pytest.mark.parametrize(("endpoint", "type_"), ENDPOINTS)
async def test_without_prefer_nothing_changes(client, people, database_url, endpoint, type_):
    response = await _queue(client, people, endpoint, prefer="")
    assert response.status_code == (201 if endpoint == "v1_open" else 200), response.text
    assert "preference-applied" not in response.headers
    if endpoint == "v1_open":
        assert response.headers["location"].startswith("/api/v1/tickets/")
        assert response.json()["status"] == "open"
    else:
        assert response.json()["response"]["guid_action"] == response.headers["x-action-id"]
    assert action_rows(database_url) == []
    assert jobs(database_url) == []
    r = await client.get(f"/api/v1/actions/{response.headers['x-action-id']}", headers=people.admin)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/tickets/open", {"text": ""}),
        ("/api/v1/tickets", {"text": "x", "priority": "asap"}),
        ("/api/tickets/change_status", {"guid_ticket": "not-a-uuid", "new_status": "open"}),
    ],
)
async def test_refusals_are_immediate_and_queue_nothing(client, people, database_url, path, body):
    missing_token = await client.post(path, json=body, headers=ASYNC)
    assert missing_token.status_code == 401
    assert missing_token.json()["error"]["code"] == "missing_token"

    invalid = await client.post(path, json=body, headers={**people.author, **ASYNC})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"

    too_large = await client.post(
        path, json={"text": "x" * 70_000}, headers={**people.author, **ASYNC}
    )
    assert too_large.status_code == 413

    assert action_rows(database_url) == []
    assert jobs(database_url) == []
