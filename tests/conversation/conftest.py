"""Conversation tests: the people of tests/tickets, and helpers to talk on a ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.tickets.conftest import People, people  # noqa: F401 - the fixture, re-exported

__all__ = ["People", "comment", "commented", "people", "sql"]


async def comment(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    guid: str,
    body: str = "Перезагрузите роутер",
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/tickets/{guid}/comments", json={"body": body, **fields}, headers=headers
    )


async def commented(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    guid: str,
    body: str = "Перезагрузите роутер",
    **fields: Any,
) -> dict[str, Any]:
    response = await comment(client, headers, guid, body, **fields)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def comments_seen(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/tickets/{guid}/comments", params=params, headers=headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
def sql(database_url: str) -> Callable[..., list[tuple[Any, ...]]]:
    """One SQL statement on the test database: to move the database's clock for a row."""

    def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    return run
