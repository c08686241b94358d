"""Liveness and readiness. Ready means PostgreSQL answers; Redis down is only "degraded"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Dependencies answer", responses={503: {"description": "Not ready"}})
async def ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "up"
    except (SQLAlchemyError, OSError):
        checks["database"] = "down"
    try:
        await request.app.state.redis.ping()
        checks["redis"] = "up"
    except (RedisError, OSError):
        checks["redis"] = "down"
    ok = checks["database"] == "up"
    status = "ok" if ok and checks["redis"] == "up" else ("degraded" if ok else "unavailable")
    return JSONResponse({"status": status, **checks}, status_code=200 if ok else 503)
