"""Liveness and readiness. Ready means PostgreSQL answers and its schema is at the head
this code expects (503 otherwise); Redis down is only "degraded"."""

from __future__ import annotations

from functools import lru_cache
from typing import cast

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ticket_service.migrate import alembic_config
from ticket_service.ops.metrics import REDIS_ERRORS

router = APIRouter(prefix="/health", tags=["health"])


@lru_cache
def expected_migration() -> str | None:
    """The head revision this code expects, or None when alembic.ini is not at hand."""
    try:
        return ScriptDirectory.from_config(alembic_config()).get_current_head()
    except FileNotFoundError:
        return None


@router.get("/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _applied_migration(engine: AsyncEngine) -> str | None:
    # The pool is not pre-pinged: after a PostgreSQL restart the first pooled connection is
    # dead. SQLAlchemy then invalidates the pool, and one more try tells the truth.
    try:
        return await _query_migration(engine)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return await _query_migration(engine)


async def _query_migration(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        query = text("SELECT version_num FROM alembic_version")
        return cast("str | None", (await conn.execute(query)).scalar())


@router.get("/ready", summary="Dependencies answer", responses={503: {"description": "Not ready"}})
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    migrations_ok = True
    try:
        applied = await _applied_migration(request.app.state.engine)
        checks["database"] = "up"
        expected = expected_migration()
        migrations_ok = expected is None or applied == expected
        checks["migrations"] = "current" if migrations_ok else f"behind ({applied} < {expected})"
    except (SQLAlchemyError, OSError):
        checks["database"] = "down"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "up"
    except (RedisError, OSError):
        REDIS_ERRORS.labels("ping").inc()
        checks["redis"] = "down"
    ok = checks["database"] == "up" and migrations_ok
    status = "ok" if ok and checks["redis"] == "up" else ("degraded" if ok else "unavailable")
    return JSONResponse({"status": status, **checks}, status_code=200 if ok else 503)
