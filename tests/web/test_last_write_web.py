"""The web UI's open and status change send their one statement alone too
(db.write_last; tests/tickets/test_last_write.py has the API's and the rule's tests)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.factories import join_team, token_for
from tests.tickets.test_last_write import Wire
from tests.web.conftest import csrf_of, demo_sign_in, post_form
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import Role
from ticket_service.web.auth_routes import DEMO_PEOPLE


async def submit(
    browser: httpx.AsyncClient, wire: Wire, page: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    token = csrf_of((await browser.get(page)).text)
    wire.forget()  # the page's own reads are not the submission's
    return await browser.post(action, data={"csrf_token": token, **fields})


async def test_a_form_opens_and_moves_a_ticket_without_a_transaction_block(
    browser: httpx.AsyncClient, web_app: FastAPI, tmp_path: Path
) -> None:
    wire = Wire(web_app, tmp_path / "wire.trace")
    agent = DEMO_PEOPLE[Role.agent][0]
    await token_for(web_app, agent, Role.agent)
    await join_team(web_app, agent, "general")
    await demo_sign_in(browser, "agent")
    warm = await post_form(
        browser, "/tickets/new", "/tickets/new", {"service": "general", "text": "Прогрев"}
    )
    assert warm.status_code == 303, warm.text

    made = await submit(
        browser,
        wire,
        "/tickets/new",
        "/tickets/new",
        {"service": "general", "text": "Не работает сканер"},
    )
    assert made.status_code == 303, made.text
    assert wire.sent() == ["WITH"]
    ticket = made.headers["location"]
    moved = await submit(
        browser, wire, ticket, ticket + "/status", {"status": "processing", "version": "1"}
    )
    assert moved.status_code == 303, moved.text
    # Read, then written: neither in a transaction block.
    assert wire.sent() == ["SELECT", "WITH"]
    async with web_app.state.sessionmaker() as session:
        row = await session.execute(
            select(Ticket.status, Ticket.version).where(
                Ticket.id == uuid.UUID(ticket.split("/")[-1])
            )
        )
        assert tuple(row.one()) == ("processing", 2)
