"""The SQL an app sends from now on: for tests that count round trips or read a statement."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

from ticket_service.kit import driver_sql


def watch_sql(app: FastAPI) -> list[str]:
    """Every statement the app's engine executes after this call, in order (the list
    grows as they run; `clear()` it to start a new count): SQLAlchemy's, and those run on
    the driver (kit/driver_sql.py)."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.engine.sync_engine, "before_cursor_execute", seen)
    driver_sql.observe(app.state.engine.sync_engine, lambda sql, _: statements.append(sql))
    return statements


def writes(statements: list[str]) -> list[str]:
    """Those of `statements` that write (an INSERT or UPDATE anywhere in them, CTEs too)."""
    return [s for s in statements if "INSERT" in s or "UPDATE" in s]
