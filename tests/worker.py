"""The real worker, run in-process by tests until the jobs they care about are done."""

from __future__ import annotations

import asyncio
import time

import psycopg

from ticket_service.config import Settings
from ticket_service.worker.app import open_jobs
from ticket_service.worker.resources import open_resources


async def run_until_idle(settings: Settings, task: str, within: float = 20.0) -> None:
    """Run the worker until no `task` job is due or running (or `within` seconds passed)."""
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


def _pending(database_url: str, task: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') AND task_name = %s",
            (task,),
        ).fetchone()
    return int(row[0]) if row else 0
