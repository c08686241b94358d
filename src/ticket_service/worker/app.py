"""The worker: opens the job registry on a pool and runs jobs until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import procrastinate
import structlog

# Importing a module registers its jobs on the blueprint.
import ticket_service.actions.pruning
import ticket_service.actions.tasks
import ticket_service.idempotency.tasks
import ticket_service.integrations.discord.tasks
import ticket_service.notifications.tasks
import ticket_service.sla.tasks
import ticket_service.worker.pruning  # noqa: F401
from ticket_service.config import Settings
from ticket_service.notifications.sender import Sender
from ticket_service.ops.tracing import trace_job
from ticket_service.worker.metrics import JOB_LOOP_UP, beat, count_job, serve_metrics
from ticket_service.worker.registry import jobs, use_database
from ticket_service.worker.resources import open_resources
from ticket_service.worker.stalled import watch_stalled

log = structlog.get_logger(__name__)

# After procrastinate's job loop ended without being asked to (a database error).
RESTART_SECONDS = 1.0


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


async def bind_job_to_logs(
    call_next: Callable[[], Awaitable[Any]],
    context: procrastinate.JobContext,
    worker: object,
) -> Any:
    """Every log line of a job carries its id and task, and the guid_action that caused it
    when the job is about one (async requests carry it in their arguments)."""
    job = context.job
    fields: dict[str, Any] = {"job_id": job.id, "task": job.task_name}
    if "guid_action" in job.task_kwargs:
        fields["guid_action"] = job.task_kwargs["guid_action"]
    with structlog.contextvars.bound_contextvars(**fields):
        return await call_next()


async def run_worker(settings: Settings, concurrency: int, **options: object) -> None:
    """Run until SIGTERM/SIGINT. procrastinate stops fetching, lets running jobs finish,
    and a job interrupted by a crash is picked up again by `watch_stalled` (here or in
    another worker) once the crashed worker's heartbeat is stale.

    Next to the job loop, one sender (notifications/sender.py) sends the notification
    deliveries, at most `concurrency` at once; on a stop it claims no more and the sends
    in flight are recorded before this returns. With `wait=False` (procrastinate's "until
    no job is left") the sender too runs until nothing is due.

    procrastinate's job loop ends at the first database error (PostgreSQL restarting, a
    failover): the fetch or the heartbeat fails and the worker stops. Only a signal stops
    us, so the loop is started again after RESTART_SECONDS; a database blip costs seconds
    of delay instead of a worker that no longer runs jobs.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    running: asyncio.Task[None] | None = None

    def stop() -> None:
        stopping.set()
        if running is not None:
            running.cancel()  # procrastinate shuts down gracefully when cancelled

    sending: asyncio.Task[None] | None = None

    def job_loop_running() -> bool:
        # The sender only ends when asked to; an idle one is alive.
        sender_alive = sending is not None and not sending.done()
        return running is not None and not running.done() and sender_alive

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    # Metrics outermost: scrapes are answered until the last job of a graceful stop ended.
    async with (
        serve_metrics(settings),
        open_jobs(settings) as app,
        open_resources(settings) as resources,
    ):
        watcher = asyncio.create_task(watch_stalled(app, settings), name="watch stalled jobs")
        until_idle = options.get("wait") is False
        sending = asyncio.create_task(
            Sender(resources, concurrency).run(stopping, until_idle), name="delivery sender"
        )
        heartbeat = asyncio.create_task(
            beat(job_loop_running, settings.worker_heartbeat_seconds), name="metrics heartbeat"
        )
        try:
            while not stopping.is_set():
                running = asyncio.create_task(
                    app.run_worker_async(
                        concurrency=concurrency,
                        additional_context={"resources": resources},
                        shutdown_graceful_timeout=30,
                        update_heartbeat_interval=settings.worker_heartbeat_seconds,
                        stalled_worker_timeout=settings.worker_stalled_after_seconds,
                        worker_middleware=[trace_job, bind_job_to_logs, count_job],
                        install_signal_handlers=False,  # ours above: they tell stop from crash
                        **options,  # type: ignore[arg-type]
                    ),
                    name="procrastinate worker",
                )
                JOB_LOOP_UP.set(1)
                try:
                    await running
                except asyncio.CancelledError:
                    if not stopping.is_set():
                        raise
                except Exception:
                    log.exception("worker_loop_failed")
                finally:
                    JOB_LOOP_UP.set(0)
                if stopping.is_set() or options.get("wait") is False:
                    break
                log.warning("worker_loop_restarting", in_seconds=RESTART_SECONDS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RESTART_SECONDS)
        except BaseException:
            stopping.set()
            raise
        finally:
            if not until_idle:
                stopping.set()
            try:
                await sending  # its sends in flight end within their lease
            finally:
                for signum in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(signum)
            watcher.cancel()
            heartbeat.cancel()
            await asyncio.gather(watcher, heartbeat, return_exceptions=True)
