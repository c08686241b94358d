"""A small company: two services (`general`, `it`), their teams, an admin, employees.

- `general`'s team: agents 2001 and 2002; `it`'s team: agent 2101.
- 2201 is an agent on no team; 3001 an admin (on no team); 1001 and 1002 employees.
Teams are set up through the API, as an admin would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.factories import auth_headers
from tests.notifications.conftest import build  # noqa: F401  (a fixture, for test_followers)
from ticket_service.events.record import record_event
from ticket_service.events.registry import Kind
from ticket_service.tickets import repository
from ticket_service.users.models import Role, User

Headers = dict[str, str]


@dataclass(frozen=True)
class Crew:
    author: Headers  # 1001
    other: Headers  # 1002
    general_agent: Headers  # 2001, on general's team
    general_agent_2: Headers  # 2002, on general's team
    it_agent: Headers  # 2101, on it's team
    loose_agent: Headers  # 2201, on no team
    admin: Headers  # 3001


async def put_on_team(client: httpx.AsyncClient, admin: Headers, slug: str, discord_id: str) -> Any:
    response = await client.put(f"/api/v1/services/{slug}/agents/{discord_id}", headers=admin)
    assert response.status_code == 200, response.text
    return response.json()


async def make_service(
    client: httpx.AsyncClient, admin: Headers, slug: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/services", json={"slug": slug, "name": slug.upper(), **fields}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def crew(app: FastAPI, client: httpx.AsyncClient) -> Crew:
    c = Crew(
        author=await auth_headers(app, "1001", Role.employee),
        other=await auth_headers(app, "1002", Role.employee),
        general_agent=await auth_headers(app, "2001", Role.agent),
        general_agent_2=await auth_headers(app, "2002", Role.agent),
        it_agent=await auth_headers(app, "2101", Role.agent),
        loose_agent=await auth_headers(app, "2201", Role.agent),
        admin=await auth_headers(app, "3001", Role.admin),
    )
    await make_service(client, c.admin, "it")
    await put_on_team(client, c.admin, "general", "2001")
    await put_on_team(client, c.admin, "general", "2002")
    await put_on_team(client, c.admin, "it", "2101")
    return c


async def insert_note(app: FastAPI, guid: str, actor_discord_id: str, body: str) -> None:
    """An internal note, recorded the way the conversation service records one (the comments
    API is built elsewhere): a `noted` event through `record_event`."""
    async with app.state.sessionmaker() as session:
        actor = (
            await session.execute(select(User).where(User.discord_id == actor_discord_id))
        ).scalar_one()
        ticket = await repository.get_visible(session, actor, uuid.UUID(guid))
        assert ticket is not None
        await record_event(session, ticket, Kind.noted, actor, data={"body": body})
        await session.commit()


async def ids(
    client: httpx.AsyncClient, headers: Headers, path: str = "/api/v1/tickets", **params: Any
) -> list[str]:
    response = await client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"] if "items" in body else body["response"]["relevant_tickets"]
    return [t["guid_ticket"] for t in items]
