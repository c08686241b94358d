"""People who act on tickets: an author, another employee, an agent and an admin.

The agent is on the `general` service's team (put there by the admin, through the API):
agents see and work the tickets of their teams' services only."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import auth_headers
from ticket_service.users.models import Role


@dataclass(frozen=True)
class Person:
    discord_id: str
    headers: dict[str, str]


@dataclass(frozen=True)
class People:
    author: Person
    other_employee: Person
    agent: Person
    admin: Person

    def by_role(self, name: str) -> Person:
        person: Person = getattr(self, name)
        return person


async def _person(app: FastAPI, discord_id: str, role: Role) -> Person:
    return Person(discord_id, await auth_headers(app, discord_id, role))


async def join_team(
    client: httpx.AsyncClient, admin: Person, discord_id: str, slug: str = "general"
) -> None:
    url = f"/api/v1/services/{slug}/agents/{discord_id}"
    response = await client.put(url, headers=admin.headers)
    assert response.status_code == 200, response.text


@pytest.fixture
async def people(app: FastAPI, client: httpx.AsyncClient) -> People:
    crowd = People(
        author=await _person(app, "1001", Role.employee),
        other_employee=await _person(app, "1002", Role.employee),
        agent=await _person(app, "2001", Role.agent),
        admin=await _person(app, "3001", Role.admin),
    )
    await join_team(client, crowd.admin, crowd.agent.discord_id)
    return crowd
