"""The real worker, run in-process by tests until the work they care about is done."""

from __future__ import annotations

import asyncio
import time

import psycopg

from ticket_service.config import Settings
from ticket_service.notifications.sender import Sender
from ticket_service.worker.app import open_jobs
from ticket_service.worker.resources import open_resources

# How often a test's sender polls (NOTIFY_POLL_SECONDS): it is woken by NOTIFY anyway; a
# short poll only shortens the wait for a lease that expired in a test.
TEST_POLL_SECONDS = 0.1


async def run_until_idle(settings: Settings, task: str, within: float = 20.0) -> None:
    """Run the worker's job loop until no `task` job is due or running (or `within` seconds
    passed)."""
    deadline = time.monotonic() + within
    async with open_jobs(settings) as app, open_resources(settings) as resources:
        while True:
            await app.run_worker_async(
                wait=False,
                install_signal_handlers=False,
                listen_notify=False,
                additional_context={"resources": resources},
            )
            if not _pending(settings.database_url or "", task) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


async def run_sender_until_idle(
    settings: Settings, within: float = 20.0, concurrency: int = 4
) -> None:
    """Run the worker's delivery sender (the real loop: LISTEN, claim, send, record) until
    no delivery is waiting, failed with a retry to come, or being sent (or `within` seconds
    passed); then stop it as SIGTERM does."""
    settings = settings.model_copy(
        update={"notify_poll_seconds": min(settings.notify_poll_seconds, TEST_POLL_SECONDS)}
    )
    deadline = time.monotonic() + within
    stopping = asyncio.Event()
    async with open_resources(settings) as resources:
        sender = asyncio.create_task(Sender(resources, concurrency).run(stopping))
        try:
            while time.monotonic() < deadline and not sender.done():
                await asyncio.sleep(0.05)
                if not outstanding_deliveries(settings.database_url or ""):
                    break
        finally:
            stopping.set()
            await sender


def outstanding_deliveries(database_url: str) -> int:
    """Deliveries not done with: pending, failed (a retry to come) or sending."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM notification_deliveries"
            " WHERE status IN ('pending', 'failed', 'sending')"
        ).fetchone()
    return int(row[0]) if row else 0


def _pending(database_url: str, task: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') AND task_name = %s",
            (task,),
        ).fetchone()
    return int(row[0]) if row else 0
