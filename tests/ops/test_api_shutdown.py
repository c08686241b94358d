"""SIGTERM to `ticket-service api`: it stops accepting, finishes what is in flight, exits 0.

The API runs as the operator runs it (the venv's `ticket-service api`) on the test
PostgreSQL and Valkey. A request is held in flight honestly: the test's own transaction
locks the ticket row (`SELECT ... FOR UPDATE`), so the API's status change waits inside
PostgreSQL until the test lets it go.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

STARTUP_SECONDS = 30
# The api's graceful shutdown allows 20 s for in-flight requests; this one is released
# at once, so the whole stop takes well under that.
EXIT_SECONDS = 15
CLI = str(Path(sys.executable).with_name("ticket-service"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _refuses_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


@pytest.fixture
def api_env(database_url: str, redis_url: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ENVIRONMENT": "test",
        "RATE_LIMIT_PER_MINUTE": "0",
        "AUTH_RATE_LIMIT_PER_MINUTE": "0",
    }


@pytest.fixture
def api(api_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    log = (tmp_path / "api.log").open("wb")
    # cwd: no developer's .env is read.
    proc = subprocess.Popen(
        [CLI, "api", "--port", str(port)],
        env=api_env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the api did not become ready"
            time.sleep(0.2)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _agent_token(env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run(
        [CLI, "token", "--discord-id", "8801", "--role", "agent", "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    token: str = json.loads(out.stdout)["access_token"]
    return token


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
    headers = {"Authorization": f"Bearer {_agent_token(api_env, tmp_path)}"}
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
