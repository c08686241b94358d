"""Helpers for the retry and worker-crash tests: a scripted webhook receiver (a real HTTP
server on 127.0.0.1, in threads), a free port, polling, and the worker as a subprocess."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from ticket_service.config import Settings


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # hold the request open this long before answering
    body: bytes = b"ok"


@dataclass
class Hit:
    at: float  # time.time() when the request arrived
    headers: dict[str, str]
    body: bytes
    status: int
    answered: bool = False  # the whole answer was written (the client was still there)
    seen: Any = None  # what `on_hit` returned when the request arrived


class Receiver:
    """A webhook receiver answering by a script: the n-th request gets `replies[n]`, later
    ones `default`. It records every request; `on_hit` runs when one arrives."""

    def __init__(
        self,
        replies: list[Reply] | None = None,
        default: Reply | None = None,
        port: int = 0,
        on_hit: Callable[[], Any] | None = None,
    ) -> None:
        self.replies = list(replies or [])
        self.default = default or Reply()
        self.on_hit = on_hit
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    n = len(receiver.hits)
                    reply = receiver.replies[n] if n < len(receiver.replies) else receiver.default
                    hit = Hit(time.time(), dict(self.headers.items()), raw, reply.status)
                    receiver.hits.append(hit)
                if receiver.on_hit:
                    hit.seen = receiver.on_hit()
                time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                    hit.answered = True
                except OSError:  # the sender is gone (killed while we held the request)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def event_ids(self) -> list[str]:
        return [hit.headers["X-Ticket-Event-Id"] for hit in self.hits]

    def accepted_events(self) -> set[str]:
        """What a receiver de-duplicating on X-Ticket-Event-Id has accepted."""
        return {hit.headers["X-Ticket-Event-Id"] for hit in self.hits if 200 <= hit.status < 300}


def free_port() -> int:
    """A port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def eventually(check: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Poll `check` (run in a thread: it may use blocking psycopg) until it is truthy."""
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or check}")
        await asyncio.sleep(0.05)


def one_row(database_url: str, sql: str, *params: Any) -> dict[str, Any] | None:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql, params).fetchone()


def delivery_jobs(database_url: str) -> list[dict[str, Any]]:
    """procrastinate jobs of the former `deliver` task: none is ever queued now."""
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT id, status, attempts, args FROM procrastinate_jobs"
            " WHERE task_name = 'deliver' ORDER BY id"
        ).fetchall()


# Workers start in a fresh interpreter; where the environment forbids writing bytecode
# next to the sources (PYTHONDONTWRITEBYTECODE), each one would compile every import again
# (seconds per start). A cache of their own, outside the tree, keeps starts quick.
PYCACHE = Path(tempfile.gettempdir()) / "ticket-service-test-pycache"


def start_worker(settings: Settings, cwd: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """The real `ticket-service worker` in its own process, configured like `settings`."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    values = {
        **inherited,
        "PYTHONPYCACHEPREFIX": str(PYCACHE),
        "ENVIRONMENT": "test",
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "WEBHOOK_URLS": ",".join(settings.webhook_urls),
        "WEBHOOK_SECRET": settings.webhook_secret.get_secret_value(),
        "OUTBOUND_ALLOWED_HOSTS": ",".join(settings.outbound_allowed_hosts),
        "NOTIFY_TIMEOUT_SECONDS": str(settings.notify_timeout_seconds),
        "NOTIFY_LEASE_SECONDS": str(settings.notify_lease_seconds),
        "NOTIFY_RETRY_BASE_SECONDS": str(settings.notify_retry_base_seconds),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "ticket_service.cli", "worker", "--concurrency", "4"],
        cwd=cwd,  # no stray .env: the environment above is the whole configuration
        env=values,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
