"""An open and a status change write one statement, the request's last: it runs alone,
committed by itself, without a BEGIN and a COMMIT round trip around it (db.write_last).
Whatever else the request writes (an Idempotency-Key's claim, an automatic assignment's
lock, a Discord card's job) keeps it in one transaction with them.

What goes over the wire tells which: libpq's own trace of the messages the API's
connections send (PQtrace), read back as the statements each request sent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from psycopg import pq
from sqlalchemy import event, select
from starlette.requests import Request

from tests.conftest import make_settings
from tests.factories import auth_headers, open_ticket
from tests.ops.test_db_retry import Faults
from tests.tickets.conftest import People
from tests.tickets.helpers import change_v1
from ticket_service import db
from ticket_service.main import create_app
from ticket_service.tickets import service
from ticket_service.tickets.schemas import TicketCreate
from ticket_service.users.models import Role, User

# libpq's trace of what the client sends: a simple query (BEGIN, COMMIT), a statement
# parsed (named when psycopg prepares it), a parsed statement bound to run.
_QUERY = re.compile(r'^F\t\d+\tQuery\t "(\w+)')
_PARSE = re.compile(r'^F\t\d+\tParse\t "([^"]*)" "(\w+)')
_BIND = re.compile(r'^F\t\d+\tBind\t "[^"]*" "([^"]*)"')


class Wire:
    """The statements the app's connections send, each by its first word, in order: libpq's
    own trace of every checked-out connection (written out at its checkin)."""

    def __init__(self, app: FastAPI, path: Path) -> None:
        self.path = path
        # Appending: `forget` empties the file under libpq's writes.
        self._file = path.open("a")
        pool = app.state.engine.sync_engine.pool
        event.listen(pool, "checkout", self._trace)
        event.listen(pool, "checkin", self._untrace)

    def _trace(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        pgconn = dbapi_connection.driver_connection.pgconn
        pgconn.trace(self._file.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def _untrace(self, dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.pgconn.untrace()

    def forget(self) -> None:
        self.path.write_text("")

    def sent(self) -> list[str]:
        statements, parsed = [], {}
        for line in self.path.read_text().splitlines():
            if query := _QUERY.match(line):
                statements.append(query.group(1).upper())
            elif parse := _PARSE.match(line):
                parsed[parse.group(1)] = parse.group(2).upper()
            elif bind := _BIND.match(line):
                statements.append(parsed[bind.group(1)])
        return statements


@pytest.fixture
def wire(app: FastAPI, tmp_path: Path) -> Wire:
    return Wire(app, tmp_path / "wire.trace")


async def warm(client: httpx.AsyncClient, people: People, wire: Wire) -> None:
    """What a running service has in its caches: the callers' tokens, the catalog. A cold
    one reads them through the ORM first, in the transaction that opens."""
    for person in (people.author, people.agent, people.admin):
        me = await client.get("/api/v1/me", headers=person.headers)
        assert me.status_code == 200, me.text
    await open_ticket(client, people.author.headers, "Прогрев")
    wire.forget()


async def test_an_open_and_a_status_change_each_commit_alone(
    client: httpx.AsyncClient, people: People, wire: Wire
) -> None:
    await warm(client, people, wire)

    opened = await open_ticket(client, people.author.headers, "Не работает VPN")
    # The ticket, its event and their deliveries: one statement (WITH ... INSERT), alone.
    assert wire.sent() == ["WITH"]

    wire.forget()
    guid = opened["guid_ticket"]
    taken = await change_v1(client, people.agent.headers, guid, "processing")
    assert taken.status_code == 200, taken.text
    seed = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": guid, "new_status": "closed_success"},
        headers=people.agent.headers,
    )
    assert seed.status_code == 200, seed.text
    # Each change: the ticket read, then written; neither in a transaction block.
    assert wire.sent() == ["SELECT", "WITH", "SELECT", "WITH"]

    # Each committed whole: the ticket taken and closed, and its history.
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=people.author.headers)).json()
    assert (shown["status"], shown["assignee"], shown["version"]) == (
        "closed_success",
        people.agent.discord_id,
        3,
    )
    history = await client.get(f"/api/v1/tickets/{guid}/events", headers=people.agent.headers)
    kinds = [event["kind"] for event in history.json()["items"]]
    assert kinds == ["opened", "assigned", "status_changed", "status_changed"]


async def test_a_stale_version_writes_nothing_and_is_409(
    client: httpx.AsyncClient, people: People, wire: Wire
) -> None:
    # The read is no longer in the write's transaction: the version check in the write
    # is what stops a change made on what another request has changed since.
    await warm(client, people, wire)
    guid = (await open_ticket(client, people.author.headers, "Не печатает"))["guid_ticket"]
    moved = await change_v1(client, people.agent.headers, guid, "processing", version=1)
    assert moved.status_code == 200, moved.text

    stale = await change_v1(client, people.agent.headers, guid, "closed_success", version=1)

    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "version_conflict"
    shown = (await client.get(f"/api/v1/tickets/{guid}", headers=people.author.headers)).json()
    assert (shown["status"], shown["version"]) == ("processing", 2)


async def test_an_idempotency_key_keeps_the_open_in_the_claims_transaction(
    client: httpx.AsyncClient, people: People, wire: Wire
) -> None:
    await warm(client, people, wire)
    headers = {**people.author.headers, "Idempotency-Key": "open-once"}

    first = await client.post("/api/v1/tickets", json={"text": "Нужен монитор"}, headers=headers)
    sent = wire.sent()
    again = await client.post("/api/v1/tickets", json={"text": "Нужен монитор"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert (sent[0], sent[-1]) == ("BEGIN", "COMMIT")
    assert sent.count("WITH") == 1


async def test_an_automatic_assignment_keeps_the_open_in_the_locks_transaction(
    client: httpx.AsyncClient, people: People, wire: Wire
) -> None:
    changed = await client.patch(
        "/api/v1/services/general", json={"assignment": "round_robin"}, headers=people.admin.headers
    )
    assert changed.status_code == 200, changed.text
    await warm(client, people, wire)

    opened = await open_ticket(client, people.author.headers, "Сломалась мышь")

    assert opened["assignee"] == people.agent.discord_id
    sent = wire.sent()
    assert (sent[0], sent[-1]) == ("BEGIN", "COMMIT")
    assert sent.count("WITH") == 2  # opened, then assigned


async def test_a_card_job_keeps_the_change_in_one_transaction_with_it(
    database_url: str, redis_url: str, discord: Any, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), discord_bot_token="bot-token"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        wire = Wire(app, tmp_path / "wire.trace")
        admin = await auth_headers(app, "3001", Role.admin)
        author = await auth_headers(app, "1001")
        carded = await client.patch(
            "/api/v1/services/general",
            json={"discord_channel_id": "123456789012345678"},
            headers=admin,
        )
        assert carded.status_code == 200, carded.text
        await open_ticket(client, author, "Прогрев")
        wire.forget()

        opened = await open_ticket(client, author, "Нет звука")

        sent = wire.sent()
        assert (sent[0], sent[-1]) == ("BEGIN", "COMMIT")
        async with app.state.engine.connect() as connection:
            jobs = await connection.exec_driver_sql(
                "SELECT args->>'guid_ticket' FROM procrastinate_jobs"
                " WHERE starts_with(lock, 'card:')"
            )
            assert (opened["guid_ticket"],) in [tuple(row) for row in jobs]


async def test_a_write_after_the_last_fails_the_request_and_is_rolled_back(
    app: FastAPI, client: httpx.AsyncClient, people: People, wire: Wire
) -> None:
    # A programming error, caught when the request commits: the last write stands (it
    # committed alone), what came after it does not.
    await warm(client, people, wire)
    async with app.state.sessionmaker() as lookup:
        author = await lookup.scalar(
            select(User).where(User.discord_id == people.author.discord_id)
        )
    assert author is not None
    wire.forget()
    scope = {"type": "http", "method": "POST", "app": app, "headers": [], "path": "/"}
    session_of = db.get_session(Request(scope))
    session = await anext(session_of)
    session.add(author)  # known already, as the token check's cache knows the caller
    ticket = await service.open_ticket(
        session, author, TicketCreate(text="Первая"), uuid.uuid4(), last=True
    )
    author.display_name = "После последней записи"
    await session.flush()

    with pytest.raises(RuntimeError, match="wrote after its last write"):
        await anext(session_of)
    assert wire.sent() == ["WITH", "BEGIN", "UPDATE", "ROLLBACK"]

    async with app.state.sessionmaker() as check:
        assert await check.scalar(select(User.display_name).where(User.id == author.id)) is None
        kept = await service.get_ticket(check, author, ticket.id)
        assert kept.status == "open"


async def test_a_connection_the_server_closed_is_not_trusted_with_a_write_alone(
    app: FastAPI, client: httpx.AsyncClient, people: People, wire: Wire, database_url: str
) -> None:
    # After a restart the pool's connections are dead and nobody knows yet. A write sent
    # alone on one would be lost with its outcome unknown (503, no replay); the server's
    # farewell waiting on the socket sends it the usual way, where the failure is known
    # to have written nothing and the request is replayed on a fresh connection.
    await warm(client, people, wire)
    await app.state.engine.dispose()
    pooled = [client.get("/api/v1/tickets", headers=people.author.headers) for _ in range(3)]
    assert [r.status_code for r in await asyncio.gather(*pooled)] == [200, 200, 200]
    retried = REGISTRY.get_sample_value("db_retries_total", {"outcome": "retried"}) or 0.0
    assert Faults(database_url).terminate_other_backends() >= 1
    wire.forget()

    await open_ticket(client, people.author.headers, "После рестарта")

    assert REGISTRY.get_sample_value("db_retries_total", {"outcome": "retried"}) == retried + 1
    assert wire.sent() == ["BEGIN", "WITH"]  # the dead connection's attempt ends there
    listed = await client.get("/api/v1/tickets", headers=people.author.headers)
    titles = [t["title"] for t in listed.json()["items"]]
    assert titles.count("После рестарта") == 1
