"""Statements run on the driver's connection (kit/driver_sql.py): a change's read makes
the entities itself, and they must be what the ORM's own load makes of the same rows; a
list's statement is compiled once per shape and must still run with each request's own
values; a failing statement must fail as SQLAlchemy's do."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, cast, func, inspect, literal, select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from tests.tickets.conftest import People
from tests.tickets.helpers import change_v1
from ticket_service.kit import driver_sql
from ticket_service.kit.driver_sql import DriverStatement
from ticket_service.tickets import repository
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import User

SLACK = "https://93.184.215.14/services/T0/B0/driver-read"  # an address: no DNS in tests


def columns(entity: Any) -> dict[str, Any]:
    return {attr.key: getattr(entity, attr.key) for attr in inspect(entity).mapper.column_attrs}


async def orm_load(session: AsyncSession, guid: uuid.UUID) -> Ticket:
    stmt = (
        select(Ticket)
        .where(Ticket.id == guid)
        .options(
            joinedload(Ticket.author),
            joinedload(Ticket.assignee),
            joinedload(Ticket.service),
            joinedload(Ticket.rating),
        )
    )
    return (await session.execute(stmt)).scalar_one()


async def user(session: AsyncSession, discord_id: str) -> User:
    found = await session.scalar(select(User).where(User.discord_id == discord_id))
    assert found is not None
    return found


@pytest.fixture
async def rated(client: httpx.AsyncClient, people: People) -> uuid.UUID:
    """A ticket of a service with an (encrypted) Slack URL, taken, closed and rated."""
    changed = await client.patch(
        "/api/v1/services/general", json={"slack_webhook_url": SLACK}, headers=people.admin.headers
    )
    assert changed.status_code == 200, changed.text
    opened = await client.post(
        "/api/v1/tickets", json={"text": "Монитор мерцает"}, headers=people.author.headers
    )
    guid = opened.json()["guid_ticket"]
    for status in ("processing", "closed_success"):
        assert (await change_v1(client, people.agent.headers, guid, status)).status_code == 200
    rating = await client.post(
        f"/api/v1/tickets/{guid}/rating",
        json={"score": 4, "comment": "Быстро"},
        headers=people.author.headers,
    )
    assert rating.status_code in (200, 201), rating.text
    return uuid.UUID(guid)


async def test_the_read_makes_what_the_orm_loads(
    app: FastAPI, people: People, rated: uuid.UUID
) -> None:
    async with app.state.sessionmaker() as session:
        agent = await user(session, people.agent.discord_id)
        session.expunge(agent)  # the caller, as the token check holds it: not yet in here
        found = await repository.get_visible_as(session, agent, rated)
        assert found is not None
        ticket, staff = found
        assert inspect(ticket).persistent  # in the session, as if loaded
        assert not inspect(ticket).modified
        assert not session.new
        assert not session.dirty
    async with app.state.sessionmaker() as session:
        loaded = await orm_load(session, rated)

    assert staff is True  # the agent is on the service's team
    assert columns(ticket) == columns(loaded)
    for part in ("author", "assignee", "service", "rating"):
        assert columns(getattr(ticket, part)) == columns(getattr(loaded, part)), part
    assert ticket.service.slack_webhook_url == SLACK  # decrypted, as the ORM's type does
    assert ticket.assignee.discord_id == people.agent.discord_id
    assert (ticket.rating.score, ticket.rating.comment) == (4, "Быстро")


async def test_what_the_session_holds_is_used_not_duplicated(
    app: FastAPI, people: People, rated: uuid.UUID
) -> None:
    async with app.state.sessionmaker() as session:
        agent = await user(session, people.agent.discord_id)  # held: the ticket's assignee
        found = await repository.get_visible_as(session, agent, rated)
        assert found is not None
        ticket, _ = found
        assert ticket.assignee is agent
        # And the ticket itself, read again, is the same object, with what it had.
        ticket.title = "Изменено, не записано"
        again = await repository.get_visible_as(session, agent, rated)
        assert again is not None
        assert again[0] is ticket
        assert again[0].title == "Изменено, не записано"


async def test_who_may_not_see_it_reads_nothing(
    app: FastAPI, people: People, rated: uuid.UUID
) -> None:
    async with app.state.sessionmaker() as session:
        other = await user(session, people.other_employee.discord_id)
        assert await repository.get_visible_as(session, other, rated) is None
        author = await user(session, people.author.discord_id)
        found = await repository.get_visible_as(session, author, rated)
        assert found is not None
        assert found[1] is False  # the author sees it, and is not its staff


async def test_a_failing_statement_fails_as_sqlalchemys_and_the_session_goes_on(
    app: FastAPI,
) -> None:
    failing = DriverStatement(select(cast(literal("семь"), Integer)))
    async with app.state.sessionmaker() as session:
        with pytest.raises(DataError) as raised:
            await failing.fetch_one(session, {})
        assert raised.value.orig is not None
        assert raised.value.orig.sqlstate == "22P02"  # invalid_text_representation
        assert not raised.value.connection_invalidated
        await session.rollback()
        assert await DriverStatement(select(literal(7))).fetch_one(session, {}) == (7,)


async def test_a_lost_connection_is_invalidated_for_the_next_request(
    app: FastAPI, database_url: str
) -> None:
    backend = DriverStatement(select(func.pg_backend_pid()))
    async with app.state.sessionmaker() as session:
        [pid] = await backend.fetch_one(session, {}) or (None,)
        await session.commit()  # its connection back in the pool, idle
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s, 2000)", (pid,))
    async with app.state.sessionmaker() as session:
        with pytest.raises(OperationalError) as raised:
            await backend.fetch_one(session, {})  # on the pool's dead connection
        assert raised.value.connection_invalidated
    async with app.state.sessionmaker() as session:
        [fresh] = await backend.fetch_one(session, {}) or (None,)
    assert fresh not in (None, pid)


async def test_lists_of_one_shape_share_a_compiled_statement_and_keep_their_values(
    app: FastAPI, client: httpx.AsyncClient, people: People
) -> None:
    for text in ("Первая", "Вторая", "Третья"):
        opened = await client.post(
            "/api/v1/tickets", json={"text": text}, headers=people.author.headers
        )
        assert opened.status_code == 201
    guid = opened.json()["guid_ticket"]
    assert (await change_v1(client, people.agent.headers, guid, "processing")).status_code == 200
    async with app.state.sessionmaker() as session:
        author = await user(session, people.author.discord_id)
        # The status is rendered into the SQL at each run (literal_execute: it proves the
        # partial indexes' predicate), so both statuses are one shape.
        open_page = repository._page_statement(
            author.role_enum, repository.TicketFilters(status="open", limit=1)
        )
        taken = repository._page_statement(
            author.role_enum, repository.TicketFilters(status="processing", limit=1)
        )
        first, first_values = driver_sql.by_shape(open_page, {"viewer_id": author.id})
        second, second_values = driver_sql.by_shape(taken, {"viewer_id": author.id})
        assert first is second  # one compile for both
        open_rows = await first.fetch_all(session, first_values)
        taken_rows = await second.fetch_all(session, second_values)
    assert [r.title for r in open_rows] == ["Вторая", "Первая"]  # limit 1, and one more
    assert [r.title for r in taken_rows] == ["Третья"]
    assert taken_rows[0].assignee == people.agent.discord_id


def test_the_compiled_shapes_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_sql, "SHAPES", 1)
    monkeypatch.setattr(driver_sql, "_shapes", driver_sql.OrderedDict())
    one, other = select(literal(1)), select(literal(1), literal(2))
    first, _ = driver_sql.by_shape(one, {})
    assert driver_sql.by_shape(one, {})[0] is first  # kept while it is the newest
    driver_sql.by_shape(other, {})
    assert driver_sql.by_shape(one, {})[0] is not first  # the oldest shape went


async def test_after_a_commit_a_statement_runs_in_the_sessions_new_transaction(
    app: FastAPI,
) -> None:
    # The session's connection is kept for its transaction (kit/driver_sql.connection_of);
    # once that commits, a statement must run in the next one, seeing what it flushed,
    # even when its old connection has gone to another session.
    named = DriverStatement(
        select(func.count()).select_from(User).where(User.discord_id == literal("4242"))
    )
    await app.state.engine.dispose()  # the pool's one idle connection will be the first's
    async with app.state.sessionmaker() as session, app.state.sessionmaker() as other:
        assert await named.fetch_one(session, {}) == (0,)
        await session.commit()
        await other.connection()  # takes that connection
        session.add(User(discord_id="4242", username="new-in-this-transaction"))
        await session.flush()
        assert await named.fetch_one(session, {}) == (1,)
        await session.rollback()
        assert await named.fetch_one(session, {}) == (0,)
