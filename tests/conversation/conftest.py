"""Conversation tests: the people of tests/tickets, and helpers to talk on a ticket.

The agents are put on the ticket's service team (as test setup, in SQL: the team API is
not ours): the ticket's staff are its team, its assignee and staff who follow it, whatever
the rule `tickets.access.staff_on` spells out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.notifications import conftest as notifications_fixtures
from tests.tickets import conftest as ticket_fixtures
from tests.tickets.conftest import People

# The fixtures of those directories, used here too.
build = notifications_fixtures.build
people = ticket_fixtures.people

SQL = Callable[..., list[tuple[Any, ...]]]


def run_sql(database_url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.execute(statement, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def sql(database_url: str) -> SQL:
    """One SQL statement on the test database: setup the API does not offer (teams,
    followers) and moving the database's clock for a row."""

    def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return run_sql(database_url, statement, *params)

    return run


def on_team(database_url: str, discord_id: str, slug: str = "general") -> None:
    run_sql(
        database_url,
        "INSERT INTO service_agents (service_id, user_id)"
        " SELECT s.id, u.id FROM services s, users u WHERE s.slug = %s AND u.discord_id = %s"
        " ON CONFLICT DO NOTHING",  # `people` has put some on the team already
        slug,
        discord_id,
    )


def follow(database_url: str, guid: str, discord_id: str) -> None:
    run_sql(
        database_url,
        "INSERT INTO ticket_followers (ticket_id, user_id)"
        " SELECT %s, id FROM users WHERE discord_id = %s",
        guid,
        discord_id,
    )


def age_comment(database_url: str, comment_id: int, minutes: int) -> None:
    """The comment was written `minutes` ago, by the database's clock."""
    run_sql(
        database_url,
        "UPDATE comments SET created_at = now() - make_interval(mins => %s) WHERE id = %s",
        minutes,
        comment_id,
    )


@pytest.fixture
async def staff(people: People, database_url: str) -> People:
    """`people`, with the agent on the `general` team (where tickets go by default)."""
    on_team(database_url, people.agent.discord_id)
    return people


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
    response = await client.get(f"/api/v1/tickets/{guid}/comments", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def history(
    client: httpx.AsyncClient, headers: dict[str, str], guid: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/tickets/{guid}/events", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
