"""Plain factory functions. They go through the service's own code paths, never raw SQL."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from ticket_service.assignment import service as assignment
from ticket_service.auth.service import mint_token
from ticket_service.catalog.models import Service
from ticket_service.users.models import Role


async def token_for(app: FastAPI, discord_id: str, role: Role | None = Role.employee) -> str:
    """An access token for a user (created when missing), as `ticket-service token` mints."""
    async with app.state.sessionmaker() as session:
        _, issued = await mint_token(session, app.state.settings, discord_id, role)
        await session.commit()
    return issued.access_token


async def auth_headers(
    app: FastAPI, discord_id: str, role: Role | None = Role.employee
) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token_for(app, discord_id, role)}"}


async def open_ticket(
    client: httpx.AsyncClient, headers: dict[str, str], text: str = "VPN не работает", **fields: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/tickets", json={"text": text, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def join_team(app: FastAPI, discord_id: str, *slugs: str) -> None:
    """Put a (signed-in) agent on the teams of `slugs` (default: `general`), as an admin
    would: agents see and work only their teams' tickets."""
    async with app.state.sessionmaker() as session:
        for slug in slugs or ("general",):
            await assignment.add_member(session, slug, discord_id)
        await session.commit()


async def join_every_team(app: FastAPI, discord_id: str) -> None:
    """Put an agent on the team of every service there is now."""
    async with app.state.sessionmaker() as session:
        slugs = (await session.scalars(select(Service.slug))).all()
    await join_team(app, discord_id, *slugs)
