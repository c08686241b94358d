"""Jobs of a dead worker go back to the queue.

procrastinate records which worker runs a job and keeps a heartbeat per worker; a job
still `doing` on a worker whose heartbeat is older than WORKER_STALLED_AFTER_SECONDS (or
whose worker row was already pruned) was interrupted by a crash. Each worker retries such
jobs at start-up (a replacement usually comes up right after the crash) and then every
WORKER_STALLED_CHECK_SECONDS, so recovery takes seconds to a minute, not a cron period.
"""

from __future__ import annotations

import asyncio

import procrastinate
import structlog
from procrastinate.exceptions import ConnectorException

from ticket_service.config import Settings

log = structlog.get_logger(__name__)


async def retry_stalled(app: procrastinate.App, seconds_since_heartbeat: float) -> int:
    """Put the running jobs of dead workers back in the queue; how many were."""
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    retried: list[int | None] = []
    for job in stalled:
        try:
            await manager.retry_job(job)
        except ConnectorException as exc:
            # Another worker retried it first, or it ended meanwhile: nothing left to do.
            log.info("stalled_job_not_retried", job_id=job.id, error=str(exc))
        else:
            retried.append(job.id)
    if retried:
        log.warning("stalled_jobs_retried", count=len(retried), job_ids=retried)
    return len(retried)


async def watch_stalled(app: procrastinate.App, settings: Settings) -> None:
    """Retry stalled jobs now and every WORKER_STALLED_CHECK_SECONDS, until cancelled."""
    while True:
        try:
            await retry_stalled(app, settings.worker_stalled_after_seconds)
        except Exception:  # a database hiccup must not stop the worker; try again later
            log.exception("stalled_jobs_check_failed")
        await asyncio.sleep(settings.worker_stalled_check_seconds)
