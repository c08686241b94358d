"""The procrastinate app, its job registry and periodic jobs."""

from __future__ import annotations

import procrastinate
import structlog

from ticket_service.config import Settings

log = structlog.get_logger(__name__)

# Jobs register on this blueprint; `build_app` binds it to the configured database.
tasks = procrastinate.Blueprint()


@tasks.periodic(cron="17 * * * *", periodic_id="prune_auth")
@tasks.task(name="prune_auth", queueing_lock="prune_auth", pass_context=True)
async def prune_auth(context: procrastinate.JobContext, timestamp: int) -> None:
    """Hourly: forget login states and sessions that can never be used again."""
    connector = context.app.connector
    await connector.execute_query_async("DELETE FROM oauth_states WHERE expires_at < now()")
    await connector.execute_query_async(
        "DELETE FROM auth_sessions WHERE refresh_expires_at < now() - interval '1 day'"
    )
    log.info("pruned_auth", timestamp=timestamp)


def build_app(settings: Settings) -> procrastinate.App:
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set")
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=settings.database_url)
    )
    app.add_tasks_from(tasks, namespace="ticket_service")
    return app


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run until SIGTERM/SIGINT; procrastinate finishes (or releases) running jobs first."""
    app = build_app(settings)
    async with app.open_async():
        await app.run_worker_async(concurrency=concurrency)
