"""The floor to compare against: the same work with nothing around it.

Starlette + a psycopg AsyncConnectionPool (the driver the service uses), one SQL
statement per operation (INSERT, SELECT of 50 rows, UPDATE, SELECT of one) and a
constant-time token check against tokens given in the environment. No ORM, no
validation library, no Redis, no history rows, no jobs, no logging: whatever the real
service costs above this is the price of those.

    BARE_DATABASE_URL=postgresql://... BARE_TOKENS='{"<token>": [<user id>, "<discord id>"]}' \
        uvicorn bench.bare_app:app --workers 2
"""

# The SQL is built from constants only; asserts narrow types of what lifespan set up.
# ruff: noqa: S101, S608

from __future__ import annotations

import hmac
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# token -> (users.id, discord id); the check walks all of them with compare_digest.
TOKENS: list[tuple[bytes, int, str]] = [
    (token.encode(), user_id, discord_id)
    for token, (user_id, discord_id) in json.loads(os.environ.get("BARE_TOKENS", "{}")).items()
]
POOL_SIZE = int(os.environ.get("BARE_POOL_SIZE", "20"))

COLUMNS = (
    "t.id, t.number, t.title, t.text, t.status, t.priority, t.service_id, t.author_id, "
    "t.assignee_id, t.created_at, t.updated_at, t.closed_at, t.version"
)
INSERT = (
    "INSERT INTO tickets (id, title, text, status, priority, service_id, author_id, version) "
    "VALUES (%s, %s, %s, 'open', %s, %s, %s, 1) RETURNING " + COLUMNS.replace("t.", "")
)
SELECT_PAGE = f"SELECT {COLUMNS} FROM tickets t WHERE t.status = %s ORDER BY t.number DESC LIMIT %s"
SELECT_ONE = f"SELECT {COLUMNS} FROM tickets t WHERE t.id = %s"
UPDATE = (
    "UPDATE tickets SET status = %s, assignee_id = %s, version = version + 1, updated_at = now() "
    "WHERE id = %s RETURNING " + COLUMNS.replace("t.", "")
)

pool: AsyncConnectionPool[AsyncConnection[DictRow]] | None = None
general_service_id: int = 0


def _user(request: Request) -> tuple[int, str] | None:
    header = request.headers.get("authorization", "")
    presented = header.removeprefix("Bearer ").encode()
    found = None
    for token, user_id, discord_id in TOKENS:
        if hmac.compare_digest(presented, token):
            found = (user_id, discord_id)
    return found


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "guid_ticket": str(row["id"]),
        "number": row["number"],
        "title": row["title"],
        "text": row["text"],
        "status": row["status"],
        "priority": row["priority"],
        "service": row["service_id"],
        "author": row["author_id"],
        "assignee": row["assignee_id"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None,
        "version": row["version"],
    }


UNAUTHORIZED = JSONResponse({"error": {"code": "unauthorized"}}, status_code=401)


async def create(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return UNAUTHORIZED
    body = await request.json()
    text = str(body["text"])
    assert pool is not None
    async with pool.connection() as conn:
        cur = await conn.execute(
            INSERT,
            (
                uuid.uuid4(),
                text.split("\n", 1)[0][:200],
                text,
                body.get("priority", "normal"),
                general_service_id,
                user[0],
            ),
        )
        row = await cur.fetchone()
    assert row is not None
    return JSONResponse(_out(row), status_code=201)


async def list_page(request: Request) -> Response:
    if _user(request) is None:
        return UNAUTHORIZED
    status = request.query_params.get("status", "open")
    limit = min(int(request.query_params.get("limit", "50")), 100)
    assert pool is not None
    async with pool.connection() as conn:
        cur = await conn.execute(SELECT_PAGE, (status, limit))
        rows = await cur.fetchall()
    return JSONResponse({"items": [_out(r) for r in rows], "next_cursor": None})


async def get_one(request: Request) -> Response:
    if _user(request) is None:
        return UNAUTHORIZED
    assert pool is not None
    async with pool.connection() as conn:
        cur = await conn.execute(SELECT_ONE, (uuid.UUID(request.path_params["guid"]),))
        row = await cur.fetchone()
    if row is None:
        return JSONResponse({"error": {"code": "ticket_not_found"}}, status_code=404)
    return JSONResponse(_out(row))


async def change_status(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return UNAUTHORIZED
    body = await request.json()
    assert pool is not None
    async with pool.connection() as conn:
        cur = await conn.execute(
            UPDATE, (str(body["status"]), user[0], uuid.UUID(request.path_params["guid"]))
        )
        row = await cur.fetchone()
    if row is None:
        return JSONResponse({"error": {"code": "ticket_not_found"}}, status_code=404)
    return JSONResponse(_out(row))


async def hook(request: Request) -> Response:
    """The webhook receiver of the service's notifications during the run: read, accept."""
    await request.body()
    return Response(status_code=204)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    global pool, general_service_id
    pool = AsyncConnectionPool(
        os.environ["BARE_DATABASE_URL"],
        connection_class=AsyncConnection[DictRow],
        min_size=4,
        max_size=POOL_SIZE,
        kwargs={"row_factory": dict_row, "autocommit": True},
        open=False,
    )
    await pool.open(wait=True)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM services WHERE slug = 'general'")
        row = await cur.fetchone()
        assert row is not None
        general_service_id = row["id"]
    yield
    await pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/tickets", create, methods=["POST"]),
        Route("/api/v1/tickets", list_page, methods=["GET"]),
        Route("/api/v1/tickets/{guid}", get_one, methods=["GET"]),
        Route("/api/v1/tickets/{guid}/status", change_status, methods=["POST"]),
        Route("/hook", hook, methods=["POST"]),
    ],
    lifespan=lifespan,
)
