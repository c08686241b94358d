"""Requests through the queue: the API accepts, the real worker (in-process) performs."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import redis
from fastapi import FastAPI
from psycopg.rows import dict_row

from tests.factories import auth_headers, join_team
from tests.worker import run_until_idle
from ticket_service.config import Settings
from ticket_service.users.models import Role

ASYNC = {"Prefer": "respond-async"}


async def run_worker_until_idle(settings: Settings, deadline_seconds: float = 20.0) -> None:
    """Run the real worker in-process until no queued action is left."""
    await run_until_idle(settings, "perform_action", deadline_seconds)


def jobs(database_url: str) -> list[dict[str, Any]]:
    """The perform_action jobs in procrastinate's table."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT status, queue_name, args FROM procrastinate_jobs"
            " WHERE task_name = 'perform_action' ORDER BY id"
        ).fetchall()


def action_rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM async_actions ORDER BY created_at").fetchall()


def ticket_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM tickets").fetchone()
    assert row is not None
    return int(row[0])


def events_of_action(database_url: str, guid_action: str) -> list[dict[str, Any]]:
    """History rows written under this guid_action, with the actor's Discord id."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT e.kind, e.ticket_id, e.from_status, e.to_status, u.discord_id AS actor"
            " FROM ticket_events e JOIN users u ON u.id = e.actor_id"
            " WHERE e.guid_action = %s ORDER BY e.id",
            (guid_action,),
        ).fetchall()


def log_record(redis_client: redis.Redis, guid_action: str) -> dict[str, Any] | None:
    raw = redis_client.get(f"logs:actions:{guid_action}")
    return json.loads(raw) if raw else None


async def action(client: httpx.AsyncClient, headers: dict[str, str], guid: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/actions/{guid}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"guid_action", "type", "status", "result", "error", "status_code"}
    return body


def assert_accepted(response: httpx.Response) -> str:
    """The 202 of a queued request; returns its guid_action."""
    assert response.status_code == 202, response.text
    guid = response.headers["x-action-id"]
    assert response.json() == {"guid_action": guid, "status": "queued"}
    assert response.headers["location"] == f"/api/v1/actions/{guid}"
    assert response.headers["preference-applied"] == "respond-async"
    return guid


@dataclass(frozen=True)
class People:
    author: dict[str, str]
    other_employee: dict[str, str]
    agent: dict[str, str]
    admin: dict[str, str]


@pytest.fixture
async def people(app: FastAPI) -> People:
    """The agent is on the `general` service's team."""
    crowd = People(
        author=await auth_headers(app, "1001", Role.employee),
        other_employee=await auth_headers(app, "1002", Role.employee),
        agent=await auth_headers(app, "2001", Role.agent),
        admin=await auth_headers(app, "3001", Role.admin),
    )
    await join_team(app, "2001")
    return crowd


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 TCP port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
