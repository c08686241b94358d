"""The worker's own Prometheus metrics, at http://WORKER_METRICS_HOST:WORKER_METRICS_PORT/metrics.

What only this process knows: the jobs it ran (by task and outcome, and how long they
took; each attempt of its delivery sender counts as a run of `deliver`, sent and dead as
`succeeded`, failed as `retried`), the delivery attempts it made
(`notification_attempts_total`, counted in notifications/tasks.py on the same default
registry) and whether its job loop is alive.
What PostgreSQL knows (queue depth, finished jobs, deliveries by status) is the api's
/metrics, not repeated here: N workers would report the same rows N times.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

import procrastinate
import structlog
from procrastinate.exceptions import JobAborted
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app

from ticket_service.config import Settings
from ticket_service.errors import ErrorBody, ErrorResponse
from ticket_service.ops.metrics import SCRAPE_REFUSED_MESSAGE, metrics_token_error

log = structlog.get_logger(__name__)

JOB_RUNS = Counter(
    "worker_jobs",
    "Job runs by this worker by task and outcome (succeeded, retried, failed, aborted)",
    ["task", "outcome"],
)
JOB_DURATION = Histogram(
    "worker_job_duration_seconds",
    "Time a job ran in this worker, whatever its outcome",
    ["task"],
    # A delivery may wait NOTIFY_TIMEOUT_SECONDS (10 s) per call; prunes may take minutes.
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
JOB_LOOP_UP = Gauge(
    "worker_job_loop_up",
    "1 while procrastinate's job loop runs, 0 while it restarts after a database error",
)
HEARTBEAT = Gauge(
    "worker_last_heartbeat_timestamp_seconds",
    "Unix time the worker's event loop last ticked with its job loop running "
    "(every WORKER_HEARTBEAT_SECONDS)",
)


def _will_retry(context: procrastinate.JobContext, exc: BaseException) -> bool:
    # The same question procrastinate asks right after this middleware re-raises.
    task = context.app.tasks.get(context.job.task_name)
    return task is not None and task.get_retry_exception(exception=exc, job=context.job) is not None


async def count_job(
    call_next: Callable[[], Awaitable[Any]], context: procrastinate.JobContext, worker: object
) -> Any:
    """Worker middleware: count and time every job this worker runs, by outcome."""
    task, started, outcome = context.job.task_name, time.perf_counter(), "failed"
    try:
        result = await call_next()
    except (asyncio.CancelledError, JobAborted):
        outcome = "aborted"  # shutdown past its grace period, or aborted by an operator
        raise
    except Exception as exc:
        outcome = "retried" if _will_retry(context, exc) else "failed"
        raise
    else:
        outcome = "succeeded"
        return result
    finally:
        JOB_RUNS.labels(task, outcome).inc()
        JOB_DURATION.labels(task).observe(time.perf_counter() - started)


async def beat(is_running: Callable[[], bool], every: float) -> None:
    """Advance the heartbeat gauge while the job loop runs, until cancelled. Scrapes are
    answered from another thread, so a stale value means a stuck event loop."""
    while True:
        if is_running():
            HEARTBEAT.set_to_current_time()
        await asyncio.sleep(every)


# --- serving ------------------------------------------------------------------------------

WSGIApp = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def _error(
    start_response: StartResponse, status: str, code: str, message: str, *extra: tuple[str, str]
) -> list[bytes]:
    """The API's error shape, so a scraper's 401 reads the same from api and worker."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message)).model_dump_json().encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra],
    )
    return [body]


def metrics_app(settings: Settings) -> WSGIApp:
    """prometheus-client's WSGI exposition of the default registry at /metrics only, behind
    the api's METRICS_TOKEN rule."""
    exposition = make_wsgi_app(REGISTRY)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return _error(start_response, "404 Not Found", "not_found", "Only /metrics is here")
        refused = metrics_token_error(settings, environ.get("HTTP_AUTHORIZATION"))
        if refused:
            return _error(
                start_response,
                "401 Unauthorized",
                refused,
                SCRAPE_REFUSED_MESSAGE,
                ("WWW-Authenticate", "Bearer"),
            )
        body: Iterable[bytes] = exposition(environ, start_response)
        return body

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one stderr line per scrape is noise; errors still reach stderr


def _server(host: str, port: int, app: WSGIApp) -> WSGIServer:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingMixIn, WSGIServer):
        address_family = family  # so WORKER_METRICS_HOST may be IPv6 ("::") too
        daemon_threads = True  # a hung scraper never holds the process at exit

    return make_server(host, port, app, Server, handler_class=_QuietHandler)


@asynccontextmanager
async def serve_metrics(settings: Settings) -> AsyncIterator[tuple[str, int] | None]:
    """Serve /metrics for the life of the block; yields the bound (host, port), or None
    when WORKER_METRICS_PORT is 0 or the port is taken.

    A threaded WSGI server (what prometheus-client's own start_http_server runs), not an
    asyncio one: a scrape is answered even while a job hogs the event loop, which is what
    makes a stale heartbeat visible. A port already in use is logged, not fatal: the
    worker's job is delivering notifications, and the missing target fires WorkerDown.
    """
    if not settings.worker_metrics_port:
        log.info("worker_metrics_off")
        yield None
        return
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    try:
        server = _server(host, port, metrics_app(settings))
    except OSError as exc:
        log.error("worker_metrics_unavailable", host=host, port=port, error=str(exc))
        yield None
        return
    thread = threading.Thread(target=server.serve_forever, name="worker metrics", daemon=True)
    thread.start()
    log.info("worker_metrics_serving", host=host, port=port, path="/metrics")
    try:
        yield host, server.server_port
    finally:
        # shutdown() waits up to serve_forever's 0.5 s poll: not on the event loop.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
