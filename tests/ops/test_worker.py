"""The worker runs jobs from PostgreSQL; the periodic prune forgets dead login state."""

from __future__ import annotations

import psycopg

from ticket_service.worker.app import open_jobs, prune_auth
from ticket_service.worker.resources import open_resources


async def test_prune_auth_removes_only_expired_rows(app, settings, database_url) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO oauth_states (state_hash, expires_at) VALUES "
            "('\\x01', now() - interval '1 minute'), ('\\x02', now() + interval '5 minutes')"
        )
    async with open_jobs(settings) as jobs, open_resources(settings) as resources:
        await prune_auth.defer_async(timestamp=0)
        await jobs.run_worker_async(
            wait=False, install_signal_handlers=False, additional_context={"resources": resources}
        )
    with psycopg.connect(database_url) as conn:
        left = [bytes(r[0]) for r in conn.execute("SELECT state_hash FROM oauth_states")]
        status = conn.execute(
            "SELECT status FROM procrastinate_jobs WHERE task_name = 'prune_auth'"
        ).fetchone()
    assert left == [b"\x02"]
    assert status == ("succeeded",)


async def test_job_log_lines_carry_the_job_id_and_task(app, settings, database_url) -> None:
    import io
    import json
    import logging

    import structlog

    from ticket_service.ops.logging import configure_logging
    from ticket_service.worker.app import bind_job_to_logs

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging(json_lines=True, stream=out)
    try:
        async with open_jobs(settings) as jobs, open_resources(settings) as resources:
            job_id = await prune_auth.defer_async(timestamp=0)
            await jobs.run_worker_async(
                wait=False,
                install_signal_handlers=False,
                additional_context={"resources": resources},
                worker_middleware=[bind_job_to_logs],
            )
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    lines = [json.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]
    [pruned] = [x for x in lines if x["event"] == "pruned_auth"]
    assert (pruned["job_id"], pruned["task"]) == (job_id, "prune_auth")


async def test_worker_restarts_its_job_loop_until_signalled(app, settings, monkeypatch) -> None:
    """A PostgreSQL restart ends procrastinate's job loop (an error, or a clean stop after a
    failed heartbeat); the worker starts it again and stops only on SIGTERM."""
    import asyncio
    import os
    import signal

    from procrastinate.exceptions import ConnectorException

    from ticket_service.worker import app as worker

    calls = 0
    cancelled = asyncio.Event()

    async def job_loop(**options: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectorException("the database system is shutting down")
        if calls == 2:
            return
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    monkeypatch.setattr(worker.jobs, "run_worker_async", job_loop)
    monkeypatch.setattr(worker, "RESTART_SECONDS", 0.01)
    running = asyncio.create_task(worker.run_worker(settings, concurrency=1))
    for _ in range(500):
        if calls == 3 or running.done():
            break
        await asyncio.sleep(0.01)
    assert calls == 3
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, timeout=10)
    assert cancelled.is_set()
