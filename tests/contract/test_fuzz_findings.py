"""What schemathesis found, pinned as plain cases: each was answered wrongly before."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import assert_error
from tests.factories import auth_headers, join_team, open_ticket
from ticket_service.users.models import Role


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/tickets/open", "GET, POST"),
        ("/api/tickets/change_status", "GET, POST"),
        ("/api/v1/tickets", "GET, POST"),
        ("/api/v1/me/notifications", "GET, PATCH"),
        ("/api/v1/services", "GET, POST"),
    ],
)
async def test_405_allows_every_method_of_the_resource(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    # It used to name only the first route on the path (`Allow: POST`).
    for method in ("OPTIONS", "DELETE"):
        r = await client.request(method, path)
        assert_error(r, 405, "method_not_allowed")
        assert r.headers["allow"] == allowed


@pytest.mark.parametrize("body", [{"discord": 0}, {"email": "false"}, {"email": 1}])
async def test_notification_switches_take_only_booleans(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    headers = await auth_headers(app, "5001")
    r = await client.patch("/api/v1/me/notifications", json=body, headers=headers)
    assert_error(r, 422, "validation_error")
    r = await client.get("/api/v1/me/notifications", headers=headers)
    assert r.json() == {"email": True, "discord": True}  # nothing was switched off


async def test_a_service_is_not_deactivated_by_a_zero(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await auth_headers(app, "5002", Role.admin)
    r = await client.patch("/api/v1/services/general", json={"is_active": 0}, headers=admin)
    assert_error(r, 422, "validation_error")
    r = await client.get("/api/v1/services", headers=admin)
    assert [s["is_active"] for s in r.json()["items"] if s["slug"] == "general"] == [True]


async def test_expected_version_is_an_integer_not_a_string(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    agent = await auth_headers(app, "5003", Role.agent)
    await join_team(app, "5003")
    ticket = await open_ticket(client, agent)
    url = f"/api/v1/tickets/{ticket['guid_ticket']}/status"
    r = await client.post(url, json={"status": "processing", "version": "1"}, headers=agent)
    assert_error(r, 422, "validation_error")
    r = await client.post(url, json={"status": "processing", "version": 1}, headers=agent)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/tickets/get"])
@pytest.mark.parametrize("value", ["0.5", "1700000000", "-3"])
async def test_date_filters_want_iso_8601_not_unix_time(
    app: FastAPI, client: httpx.AsyncClient, path: str, value: str
) -> None:
    # pydantic reads a bare number as Unix time: `0.5` filtered from 1970 without a word.
    headers = await auth_headers(app, "5004")
    for name in ("created_after", "created_before"):
        r = await client.get(path, params={name: value}, headers=headers)
        assert_error(r, 422, "validation_error")
    r = await client.get(path, params={"created_after": "2024-05-01T09:30:00Z"}, headers=headers)
    assert r.status_code == 200, r.text
