"""The worker: opens the job registry on a pool and runs jobs until told to stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import procrastinate
import structlog

# Importing a module registers its jobs on the blueprint.
import ticket_service.notifications.tasks  # noqa: F401
from ticket_service.config import Settings
from ticket_service.worker.registry import jobs, use_database
from ticket_service.worker.resources import open_resources

log = structlog.get_logger(__name__)


@jobs.periodic(cron="17 * * * *", periodic_id="prune_auth")
@jobs.task(name="prune_auth", queueing_lock="prune_auth", pass_context=True)
async def prune_auth(context: procrastinate.JobContext, timestamp: int) -> None:
    """Hourly: forget login states and sessions that can never be used again."""
    connector = context.app.connector
    await connector.execute_query_async("DELETE FROM oauth_states WHERE expires_at < now()")
    await connector.execute_query_async(
        "DELETE FROM auth_sessions WHERE refresh_expires_at < now() - interval '1 day'"
    )
    log.info("pruned_auth", timestamp=timestamp)


@asynccontextmanager
async def open_jobs(settings: Settings) -> AsyncIterator[procrastinate.App]:
    """The job registry connected to DATABASE_URL, for the life of the block."""
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    use_database(settings.database_url)
    async with jobs.open_async():
        yield jobs


async def run_worker(settings: Settings, concurrency: int, **options: object) -> None:
    """Run until SIGTERM/SIGINT. procrastinate stops fetching, lets running jobs finish,
    and a job interrupted by a crash is picked up again by `retry_stalled_jobs`."""
    async with open_jobs(settings) as app, open_resources(settings) as resources:
        await app.run_worker_async(
            concurrency=concurrency,
            additional_context={"resources": resources},
            shutdown_graceful_timeout=30,
            **options,  # type: ignore[arg-type]
        )
