"""`make bench-search`: the database time of each shape of text search, at SEED tickets.

HTTP latency under load says little about how a query grows with the table when the
machine is busy; the time PostgreSQL spends on the statement does. This starts a
throwaway PostgreSQL like `make bench`, seeds SEED tickets (default 10,000) with the same
texts (a Zipf-like vocabulary and an error code each), and runs each search the list
endpoint makes (the statement `tickets.repository.list_visible` builds, as an agent on
every team) N times (default 50), printing the median and p99 of the server's execution
time (EXPLAIN ANALYZE) and the plan's top scan. Run it at 10,000 and at 1,000,000: the
scale check wants every row within 1.5x.
"""

# A measuring tool, not the service: it asserts on its own set-up and picks at random.
# ruff: noqa: S101, S311

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    SEARCH_WORDS,
    codes_for,
    env_int,
    on_every_team,
    say,
    seed,
    start_postgres,
)

AGENT = "900000000000000001"


def shapes(codes: int) -> list[tuple[str, dict[str, Any]]]:
    code = f"E-{random.randrange(codes)}"
    word = random.choice(SEARCH_WORDS)
    return [
        ("common word, newest", {"q": word}),
        ("rare code, newest", {"q": code}),
        ("rare code, relevance", {"q": code, "sort": "relevance"}),
        ("common word, relevance", {"q": word, "sort": "relevance"}),
        ("#number", {"q": "#5000"}),
        ("no q (list)", {"status": "open"}),
    ]


async def measure(database_url: str, runs: int, codes: int) -> list[tuple[str, float, float, str]]:
    import psycopg
    from sqlalchemy import event, select
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from ticket_service.config import Settings
    from ticket_service.tickets import repository
    from ticket_service.tickets.repository import TicketFilters
    from ticket_service.users.models import User

    engine = create_async_engine(Settings(database_url=database_url).sqlalchemy_url)
    seen: list[tuple[str, Any]] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, params, *_: seen.append((statement, params)),
    )
    timings: dict[str, list[float]] = {}
    plans: dict[str, str] = {}
    async with AsyncSession(engine) as session:
        agent = (await session.execute(select(User).where(User.discord_id == AGENT))).scalar_one()
        with psycopg.connect(database_url) as conn:
            for _ in range(runs):
                for name, params in shapes(codes):
                    await repository.list_visible(session, agent, TicketFilters(**params))
                    statement, values = seen[-1]
                    rows = conn.execute(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, values
                    ).fetchone()
                    assert rows is not None
                    top = rows[0][0]
                    timings.setdefault(name, []).append(top["Execution Time"])
                    plans[name] = _scan(top["Plan"])
    await engine.dispose()
    out = []
    for name, times in timings.items():
        times.sort()
        p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
        out.append((name, statistics.median(times), p99, plans[name]))
    return out


def _scan(plan: dict[str, Any]) -> str:
    """The node that reads `tickets`: how the rows were found."""
    if plan.get("Relation Name") == "tickets" or plan.get("Node Type") == "BitmapOr":
        return f"{plan['Node Type']} {plan.get('Index Name', '')}".strip()
    for child in plan.get("Plans", []):
        if found := _scan(child):
            return found
    return ""


def main() -> int:
    seed_n = env_int("SEED", 10_000)
    runs = env_int("N", 50)
    with tempfile.TemporaryDirectory(prefix="ticket-bench-search-") as tmp, ExitStack() as stack:
        database_url = start_postgres(Path(tmp), stack)
        from ticket_service.migrate import upgrade

        upgrade(database_url)
        t0 = time.monotonic()
        seed(database_url, seed_n)
        say(f"seeded {seed_n} tickets in {time.monotonic() - t0:.1f} s")
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (discord_id, username, email_verified, role, "
                "role_set_by_admin) VALUES (%s, 'agent', false, 'agent', false)",
                (AGENT,),
            )
        on_every_team(database_url, AGENT)
        results = asyncio.run(measure(database_url, runs, codes_for(seed_n)))
    print(f"\n{seed_n:,} tickets, {runs} runs each, database execution time (EXPLAIN ANALYZE)\n")
    print("| search | median ms | p99 ms | tickets read by |")
    print("|---|---:|---:|---|")
    for name, median, p99, scan in results:
        print(f"| {name} | {median:.2f} | {p99:.2f} | {scan} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
