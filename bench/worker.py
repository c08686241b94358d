"""`make bench-worker`: how many webhook deliveries per second `ticket-service worker` sends.

Issue 12's target: at least 500 deliveries/s to a local receiver with 4 concurrent jobs.

Starts an embedded PostgreSQL and Valkey (bench/run.py's helpers), migrates, seeds
DELIVERIES tickets with their 'opened' events (bench/run.py's `seed`), and the bare app
(bench/bare_app.py, uvicorn, one process) whose `/hook` answers 204: the receiver. Then
`ticket-service worker --concurrency CONCURRENCY` starts with WEBHOOK_URLS pointing at it and,
once it is up and idle, one transaction writes a webhook delivery row per event and wakes
the senders with one NOTIFY on `ticket_deliveries`, as the API does (notifications/
repository.py `insert_deliveries`: the rows are the queue, no job per delivery). The clock
runs from that commit until every delivery is `sent`; the CPU every process used meanwhile (worker,
PostgreSQL, receiver, Valkey) is charged to the deliveries.

Prints deliveries/s and CPU ms per delivery by process; writes them as JSON to
bench/results/worker-<timestamp>.json.

Settings (environment, or make variables of the same name): DELIVERIES (5000), CONCURRENCY
(4), BENCH_LOGS (a directory to keep the servers' logs in), BENCH_SRC (run the worker from
another checkout's src/, e.g. `git archive <commit> src | tar -x -C /tmp/base`: an A/B on
one machine), PROFILE (a py-spy binary: record the worker during the run into
bench/results/worker-<timestamp>.folded, collapsed stacks).
"""

# A load-test driver, not the service: it runs its own tools with fixed arguments.
# ruff: noqa: S101, S603

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (
    CLI,
    RESULTS,
    ROOT,
    cpu_snapshot,
    cpu_spent,
    env_int,
    free_port,
    say,
    seed,
    service_env,
    spawn,
    start_postgres,
    start_valkey,
    stop,
    wait_http,
)

KINDS = ("worker", "postgres", "receiver", "valkey")
TARGET_PER_SECOND = 500.0  # issue 12


async def enqueue(database_url: str, hook_url: str) -> int:
    """One webhook delivery per event, in one transaction that wakes the senders at its
    COMMIT (what `record_event` adds to a change): the worker finds a full queue."""
    import psycopg

    from ticket_service.notifications.recipients import url_key

    async with (
        await psycopg.AsyncConnection.connect(database_url) as conn,
        conn.transaction(),
    ):
        cur = await conn.execute(
            "INSERT INTO notification_deliveries "
            "(event_id, channel, recipient, status, attempts) "
            "SELECT id, 'webhook', %s, 'pending', 0 FROM ticket_events "
            "ORDER BY id RETURNING id",
            (url_key(hook_url),),
        )
        ids = [row[0] for row in await cur.fetchall()]
        await conn.execute("SELECT pg_notify('ticket_deliveries', '')")
    return len(ids)


def count_sent(database_url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FROM notification_deliveries"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def wait_worker_ready(database_url: str, worker: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker's job loop has registered itself (procrastinate_workers)."""
    import psycopg

    deadline = time.monotonic() + 60
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise SystemExit(f"the worker ended; see its log:\n{log.read_text()[-3000:]}")
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.2)
    raise SystemExit("the worker did not start in 60 s")


def main() -> int:
    n = env_int("DELIVERIES", 5000)
    concurrency = env_int("CONCURRENCY", 4)
    say(f"DELIVERIES={n} CONCURRENCY={concurrency} on {os.cpu_count()} cores")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with (
        tempfile.TemporaryDirectory(prefix="ticket-bench-worker-") as tmp_name,
        ExitStack() as stack,
    ):
        tmp = Path(tmp_name)
        database_url = start_postgres(tmp, stack)
        redis_url = start_valkey(tmp, stack)
        from ticket_service.migrate import upgrade

        upgrade(database_url)
        seed(database_url, n)
        say(f"seeded {n} tickets and their events")

        port = free_port()
        hook_url = f"http://127.0.0.1:{port}/hook"
        env = service_env(database_url, redis_url)
        if base := os.environ.get("BENCH_SRC"):
            # Another checkout's src/ (the code before a change), for an A/B on one machine.
            env["PYTHONPATH"] = f"{base}{os.pathsep}{env['PYTHONPATH']}"
        env.update(
            WEBHOOK_URLS=hook_url,
            WEBHOOK_SECRET="bench-" + "x" * 32,
            OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
            WORKER_METRICS_PORT="0",
            DB_POOL_SIZE="4",
            DB_MAX_OVERFLOW="2",
        )
        children: list[subprocess.Popen[bytes]] = []
        stack.callback(stop, children)
        receiver_log, worker_log = tmp / "receiver.log", tmp / "worker.log"
        receiver = spawn(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare_app:app",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
            ],
            dict(env, BARE_DATABASE_URL=database_url, BARE_POOL_SIZE="4"),
            receiver_log,
        )
        children.append(receiver)
        wait_http(f"http://127.0.0.1:{port}/api/v1/tickets", receiver, receiver_log)
        worker = spawn([*CLI, "worker", "--concurrency", str(concurrency)], env, worker_log)
        children.append(worker)
        wait_worker_ready(database_url, worker, worker_log)
        time.sleep(1)  # its first claim found nothing: its sender now waits for a NOTIFY

        roots = {"worker": worker.pid, "receiver": receiver.pid}
        profiler = None
        if py_spy := os.environ.get("PROFILE"):
            svg = RESULTS / f"worker-{stamp}.folded"
            profiler = subprocess.Popen(
                [py_spy, "record", "-p", str(worker.pid), "-f", "raw", "-o", str(svg), "-d", "600"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        t0 = time.monotonic()
        queued = asyncio.run(enqueue(database_url, hook_url))
        # The rows became visible at the commit: the clock and the CPU count start there
        # (what the worker did in the moment since is counted too, a slight overstatement).
        before = cpu_snapshot(roots, tmp, redis_url)
        started = time.monotonic()
        queued_in = started - t0
        say(f"queued {queued} deliveries in {queued_in:.1f} s")
        sent = 0
        while sent < queued:
            if worker.poll() is not None:
                raise SystemExit(
                    f"the worker ended; see its log:\n{worker_log.read_text()[-3000:]}"
                )
            if time.monotonic() - started > 600:
                raise SystemExit(f"only {sent} of {queued} sent after 600 s")
            time.sleep(0.1)
            sent, _ = count_sent(database_url)
        seconds = time.monotonic() - started
        after = cpu_snapshot(roots, tmp, redis_url)
        spent = cpu_spent(before, after)
        if profiler is not None:
            profiler.send_signal(2)  # SIGINT: py-spy writes what it has
            profiler.wait(timeout=30)
        stop(children)
        if keep_logs := os.environ.get("BENCH_LOGS"):
            Path(keep_logs).mkdir(parents=True, exist_ok=True)
            for log in (worker_log, receiver_log):
                shutil.copy(log, Path(keep_logs) / log.name)
        tracebacks = worker_log.read_text(errors="replace").count("Traceback")

    cpu_ms = {k: round(spent.get(k, 0.0) * 1000 / queued, 3) for k in KINDS}
    rate = queued / seconds
    print()
    print("| deliveries | concurrency | seconds | deliveries/s | target 500/s |")
    print("|---:|---:|---:|---:|---|")
    verdict = "yes" if rate >= TARGET_PER_SECOND else "NO"
    print(f"| {queued} | {concurrency} | {seconds:.1f} | {rate:.0f} | {verdict} |")
    print()
    print("CPU ms per delivery by process:")
    print("| " + " | ".join(KINDS) + " | total |")
    print("|" + "---:|" * (len(KINDS) + 1))
    print("| " + " | ".join(f"{cpu_ms[k]:.2f}" for k in KINDS) + f" | {sum(cpu_ms.values()):.2f} |")
    if tracebacks:
        say(f"the worker logged {tracebacks} tracebacks (BENCH_LOGS=dir keeps its log)")
    out = RESULTS / f"worker-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "commit": subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git on PATH
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    check=False,
                ).stdout.strip(),
                "worker_src": os.environ.get("BENCH_SRC") or "src",
                "deliveries": queued,
                "concurrency": concurrency,
                "cpu_count": os.cpu_count(),
                "seconds": round(seconds, 2),
                "enqueue_seconds": round(queued_in, 2),
                "deliveries_per_second": round(rate, 1),
                "cpu_ms_per_delivery": cpu_ms,
                "worker_tracebacks": tracebacks,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
