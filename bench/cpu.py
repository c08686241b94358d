"""`make bench-cpu`: CPU time per request of each operation, in-process.

wrk measures the whole machine; this measures our code alone. It starts a throwaway
PostgreSQL and Valkey like `make bench`, seeds SEED tickets (default 10,000), builds the
app in this process and sends N requests (default 300) of each operation one after another
through httpx's ASGI transport (no sockets, no uvicorn), after a warm-up. It prints the
process CPU time per request, which stays comparable when the machine is busy where
wall time does not. `live` (`GET /health/live`) is the floor: middleware, routing and the
test client, no database. `page_queue` and `page_ticket` are the web UI's queue and a ticket
page as the agent (who is on every team).

PROFILE=<operation> also writes a pyinstrument call tree of that operation to
bench/results/cpu-<operation>.txt. OPS=live,me,get measures only those operations.
WEBHOOK=1 configures one webhook (to a closed port: the request still writes the delivery
row and wakes the senders; no worker runs).
"""

# A measuring tool, not the service: its webhook secret is a fixed placeholder.
# ruff: noqa: S106

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    RESULTS,
    env_int,
    mint,
    on_every_team,
    say,
    seed,
    service_env,
    start_postgres,
    start_valkey,
    status_pool,
)

Request = Callable[[], Awaitable[httpx.Response]]


def operations(
    client: httpx.AsyncClient, agent: str, employee: str, pool: list[str]
) -> dict[str, Request]:
    as_agent = {"Authorization": f"Bearer {agent}"}
    as_employee = {"Authorization": f"Bearer {employee}"}
    # The web pages read the session cookie, as a browser sends it.
    agent_page = {"Cookie": f"ts_session={agent}", "Accept": "text/html"}
    moves = itertools.count()
    opens = itertools.count()
    reads = itertools.count()

    def status() -> Awaitable[httpx.Response]:
        # Every ticket of the pool goes to processing, then back to open, and so on.
        n = next(moves)
        target = "processing" if (n // len(pool)) % 2 == 0 else "open"
        return client.post(
            f"/api/v1/tickets/{pool[n % len(pool)]}/status",
            json={"status": target},
            headers=as_agent,
        )

    return {
        "live": lambda: client.get("/health/live"),
        "me": lambda: client.get("/api/v1/me", headers=as_agent),
        "open": lambda: client.post(
            "/api/v1/tickets",
            json={"text": f"Принтер {next(opens)} не печатает\nС утра.", "service": "it"},
            headers=as_employee,
        ),
        "list": lambda: client.get("/api/v1/tickets?status=open&limit=50", headers=as_agent),
        "get": lambda: client.get(
            f"/api/v1/tickets/{pool[next(reads) % len(pool)]}", headers=as_agent
        ),
        "status": status,
        "page_queue": lambda: client.get("/queue", headers=agent_page),
        "page_ticket": lambda: client.get(
            f"/tickets/{pool[next(reads) % len(pool)]}", headers=agent_page
        ),
    }


async def measure(
    env: dict[str, str],
    agent: str,
    employee: str,
    pool: list[str],
    n: int,
    profile: str,
    log_sink: TextIO,
) -> None:
    os.environ.update(env)
    from ticket_service.config import Settings
    from ticket_service.main import create_app
    from ticket_service.ops.logging import configure_logging

    # The JSON request log is part of every request's cost: render it, into /dev/null.
    configure_logging(True, "INFO")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(log_sink)
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            only = [o for o in os.environ.get("OPS", "").split(",") if o]
            for name, request in operations(client, agent, employee, pool).items():
                if only and name not in only:
                    continue
                for _ in range(30):
                    await request()
                profiler = _profiler() if name == profile else None
                statuses: Counter[int] = Counter()
                started = time.process_time()
                for _ in range(n):
                    statuses[(await request()).status_code] += 1
                cpu = time.process_time() - started
                if profiler is not None:
                    profiler.stop()
                    out = RESULTS / f"cpu-{name}.txt"
                    out.write_text(profiler.output_text(unicode=False, color=False))
                    say(f"profile of {name} written to {out}")
                print(f"{name:7} {cpu / n * 1000:6.2f} ms CPU per request   {dict(statuses)}")


def _profiler() -> Any:  # pyinstrument.Profiler, imported only when asked for
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    return profiler


def main() -> int:
    tickets, n = env_int("SEED", 10_000), env_int("N", 300)
    profile = os.environ.get("PROFILE", "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ticket-cpu-") as tmp, ExitStack() as stack:
        # Opened first, closed last: the servers still log while they stop.
        log_sink = stack.enter_context(open(os.devnull, "w"))
        database_url = start_postgres(Path(tmp), stack)
        redis_url = start_valkey(Path(tmp), stack)
        from ticket_service.migrate import upgrade

        upgrade(database_url)
        seed(database_url, tickets)
        pool = status_pool(database_url, min(2000, tickets))
        env = service_env(database_url, redis_url)
        if os.environ.get("WEBHOOK"):
            env.update(WEBHOOK_URLS="http://127.0.0.1:9/hook", WEBHOOK_SECRET="bench")
        agent = mint(env, "900000000000000001", "agent")["access_token"]
        on_every_team(database_url, "900000000000000001")
        employee = mint(env, "900000000000000002", "employee")["access_token"]
        say(f"SEED={tickets} N={n} WEBHOOK={'1' if os.environ.get('WEBHOOK') else '0'}")
        asyncio.run(measure(env, agent, employee, pool, n, profile, log_sink))
    return 0


if __name__ == "__main__":
    sys.exit(main())
