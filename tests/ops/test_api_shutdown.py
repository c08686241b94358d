"""SIGTERM to `ticket-service api`: it stops accepting, finishes what is in flight, exits 0.

The API runs as the operator runs it (the venv's `ticket-service api`) on the test
PostgreSQL and Valkey. A request is held in flight honestly: the test's own transaction
locks the ticket row (`SELECT ... FOR UPDATE`), so the API's status change waits inside
PostgreSQL until the test lets it go.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.live_api import api_env, mint_token, running_api

# The api's graceful shutdown allows 20 s for in-flight requests; this one is released
# at once, so the whole stop takes well under that.
EXIT_SECONDS = 15


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


@pytest.fixture(name="api_env")
def api_env_fixture(database_url: str, redis_url: str) -> dict[str, str]:
    return api_env(database_url, redis_url)


@pytest.fixture
def api(api_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    with running_api(api_env, tmp_path) as running:
        yield running


def _wait_for_lock_waiter(database_url: str, deadline_seconds: float = 10) -> None:
    """Until some backend of our database waits on a row lock: the request is in flight."""
    deadline = time.monotonic() + deadline_seconds
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.05)
    raise AssertionError("the status change never waited on the row lock")


def test_sigterm_finishes_in_flight_requests_then_exits_0(
    api: tuple[subprocess.Popen[bytes], int],
    api_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
) -> None:
    proc, port = api
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {mint_token(api_env, tmp_path, '8801', 'agent')}"}
    admin = {"Authorization": f"Bearer {mint_token(api_env, tmp_path, '8802', 'admin')}"}
    r = httpx.put(f"{base}/api/v1/services/general/agents/8801", headers=admin)
    assert r.status_code == 200, r.text  # the agent works the `general` service
    r = httpx.post(f"{base}/api/v1/tickets", json={"text": "Сломался принтер"}, headers=headers)
    assert r.status_code == 201, r.text
    guid = r.json()["guid_ticket"]

    answer: dict[str, Any] = {}

    def change_status() -> None:
        try:
            answer["response"] = httpx.post(
                f"{base}/api/v1/tickets/{guid}/status",
                json={"status": "processing"},
                headers=headers,
                timeout=30,
            )
        except httpx.HTTPError as exc:  # reported by the assertion below
            answer["error"] = exc

    in_flight = threading.Thread(target=change_status)
    with psycopg.connect(database_url) as lock:
        lock.execute("SELECT 1 FROM tickets WHERE id = %s FOR UPDATE", (guid,))
        in_flight.start()
        _wait_for_lock_waiter(database_url)

        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not _refuses_connections(port):
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        # Not accepting any more, and the held request is still being worked on.
        assert in_flight.is_alive()
        assert proc.poll() is None
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health/live", timeout=2)
        lock.rollback()  # let the status change through

    in_flight.join(timeout=EXIT_SECONDS)
    assert not in_flight.is_alive(), "the in-flight request never finished"
    assert "error" not in answer, answer.get("error")
    response = answer["response"]
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "processing"
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status FROM tickets WHERE id = %s", (guid,)).fetchone()
    assert row == ("processing",)

    assert proc.wait(timeout=EXIT_SECONDS) == 0, (tmp_path / "api.log").read_text()[-3000:]
