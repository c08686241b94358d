"""The service is what the web UI and Discord call with what people typed: it applies the
same rules as the REST payload validation."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from tests.factories import open_ticket
from ticket_service.conversation import service
from ticket_service.errors import Unprocessable
from ticket_service.users.models import User


@pytest.mark.parametrize("body", ["", "  \n", "x" * 10001, "a\x00b"])
async def test_a_body_the_api_would_refuse_is_refused_by_the_service_too(app, people, body):
    async with app.state.sessionmaker() as session:
        agent = await session.scalar(select(User).where(User.discord_id == "2001"))
        assert agent is not None
        with pytest.raises(Unprocessable) as raised:
            await service.add_comment(session, agent, uuid.uuid4(), body, False, None)
        assert raised.value.details[0]["loc"] == ["body"]
        with pytest.raises(Unprocessable):
            await service.edit_comment(session, agent, uuid.uuid4(), 1, body, None)


@pytest.mark.parametrize("limit", [0, 201])
async def test_a_page_size_out_of_range_is_refused(app, people, limit):
    async with app.state.sessionmaker() as session:
        agent = await session.scalar(select(User).where(User.discord_id == "2001"))
        assert agent is not None
        with pytest.raises(Unprocessable):
            await service.list_comments(session, agent, uuid.uuid4(), limit=limit)


async def test_a_body_is_trimmed_at_the_ends(app, client, staff):
    ticket = await open_ticket(client, staff.author.headers)
    async with app.state.sessionmaker() as session:
        agent = await session.scalar(select(User).where(User.discord_id == "2001"))
        assert agent is not None
        view = await service.add_comment(
            session, agent, uuid.UUID(ticket["guid_ticket"]), "  Готово \n", False, None
        )
        await session.commit()
    assert view.body == "Готово"
    assert view.author.discord_id == "2001"
