"""Plain helpers for ticket tests: the workflow as the contract states it, and API calls."""

from __future__ import annotations

from typing import Any

import httpx

STATUSES = ("open", "processing", "closed_success", "closed_fail")

# Written out from the contract, not imported from the code under test.
WORKFLOW: dict[str, set[str]] = {
    "open": {"processing", "closed_success", "closed_fail"},
    "processing": {"open", "closed_success", "closed_fail"},
    "closed_success": {"open"},
    "closed_fail": {"open"},
}
AUTHOR_MOVES = {
    ("open", "closed_fail"),
    ("processing", "closed_fail"),
    ("closed_success", "open"),
    ("closed_fail", "open"),
}


async def change_v1(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    guid: str,
    status: str,
    version: int | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"status": status}
    if version is not None:
        body["version"] = version
    return await client.post(f"/api/v1/tickets/{guid}/status", json=body, headers=headers)


async def change_seed(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str, status: str
) -> httpx.Response:
    body = {"guid_ticket": guid, "new_status": status}
    return await client.post("/api/tickets/change_status", json=body, headers=headers)


async def move_to(
    client: httpx.AsyncClient, admin_headers: dict[str, str], guid: str, status: str
) -> None:
    """Put a ticket (currently open) into `status` as an admin."""
    if status == "open":
        return
    response = await change_v1(client, admin_headers, guid, status)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status


async def read(client: httpx.AsyncClient, headers: dict[str, str], guid: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{guid}", headers=headers)
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def events(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/tickets/{guid}/events", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
