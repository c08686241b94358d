"""Prometheus metrics at `GET /metrics`.

Counters and histograms live on prometheus-client's default REGISTRY (any module may add
its own). What only the database knows (tickets, jobs, deliveries) is queried when
/metrics is scraped, at most once per `cache_seconds` per process: N replicas scraped
every 15 s cost N small queries per 15 s, whatever the scrape interval. A failed query
skips its gauges (and counts in `metrics_collection_errors_total`); /metrics still answers.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, Iterator

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.types import Scope

from ticket_service.config import Settings
from ticket_service.errors import error_response
from ticket_service.notifications.models import DUE
from ticket_service.vocabulary import Status

log = structlog.get_logger(__name__)

UNMATCHED = "<unmatched>"
# Any other method string a client sends would be a new label value each time.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_CACHE_SECONDS = 15.0
# Below Prometheus' default scrape_timeout (10 s): a slow database costs gauges, not the scrape.
QUERY_TIMEOUT_SECONDS = 5.0

HTTP_REQUESTS = Counter("http_requests", "HTTP requests answered", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)
DISCORD_LOGINS = Counter("discord_logins", "Discord sign-in attempts by outcome", ["outcome"])
NOTIFICATION_ATTEMPTS = Counter(
    "notification_attempts",
    "Delivery attempts made by this process (the worker), by outcome",
    ["channel", "outcome"],
)
REDIS_ERRORS = Counter("redis_errors", "Redis calls that failed and were skipped", ["operation"])
COLLECTION_ERRORS = Counter(
    "metrics_collection_errors",
    "Scrape-time database queries that failed (their gauges were left out)",
    ["source"],
)
DB_RETRIES = Counter(
    "db_retries",
    "API requests replayed after a transient database error (retried), or answered 503 "
    "because the last attempt failed so too (exhausted)",
    ["outcome"],
)


def _route_label(scope: Scope) -> str:
    # The router sets scope["route"] on a match (also the partial match behind a 405).
    # Requests refused before routing (413 body limit, 429 rate limit) have none.
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def observe_request(scope: Scope, status_code: int, seconds: float) -> None:
    """Count and time one HTTP request by its route template (called by ops/edge.py for
    every request, the refused ones too)."""
    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    key = (method, _route_label(scope), status_code)
    children = _REQUEST_CHILDREN.get(key)
    if children is None:  # `.labels()` hashes and locks on every call: once per label set
        children = (
            HTTP_REQUESTS.labels(key[0], key[1], str(status_code)),
            HTTP_DURATION.labels(key[0], key[1]),
        )
        _REQUEST_CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


# Bounded like the labels themselves: known methods, route templates, statuses.
_REQUEST_CHILDREN: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


# --- scrape-time gauges ------------------------------------------------------------------

TICKET_STATUSES = tuple(s.value for s in Status)
JOB_OUTCOMES = ("succeeded", "failed", "cancelled", "aborted")

TICKETS_SQL = text(
    """
    SELECT st.status, s.slug, count(t.id)
    FROM services s
    CROSS JOIN unnest(CAST(:statuses AS text[])) AS st(status)
    LEFT JOIN tickets t ON t.service_id = s.id AND t.status = st.status
    GROUP BY st.status, s.slug
    """
)
JOBS_SQL = text(
    "SELECT queue_name, task_name, status::text, count(*) FROM procrastinate_jobs"
    " GROUP BY queue_name, task_name, status"
)
# How long the oldest due job has waited: since it was scheduled for, or else since it was
# (re)queued, which only procrastinate_events records.
OLDEST_DUE_SQL = text(
    """
    SELECT j.queue_name, extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at)))
    FROM procrastinate_jobs j
    LEFT JOIN LATERAL (
        SELECT max(ev.at) AS at FROM procrastinate_events ev
        WHERE ev.job_id = j.id AND ev.type IN ('deferred', 'deferred_for_retry', 'retried')
    ) e ON true
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    GROUP BY j.queue_name
    """
)
DELIVERIES_SQL = text(
    "SELECT channel, status, count(*) FROM notification_deliveries GROUP BY channel, status"
)
# How long the oldest due delivery has waited, by channel: since it was written, since its
# retry time came, or since the lease of a sender that died with it ran out. Deliveries
# are no jobs (notifications/sender.py), so job_oldest_age_seconds does not see them.
OLDEST_DUE_DELIVERY_SQL = text(
    f"""
    SELECT channel, extract(epoch FROM now() - min(CASE
        WHEN status = 'sending' THEN lease_until
        ELSE coalesce(next_attempt_at, created_at) END))
    FROM notification_deliveries
    WHERE {DUE}
    GROUP BY channel
    """  # noqa: S608 - a constant of the model, no input
)


async def _tickets(conn: AsyncConnection) -> list[Metric]:
    family = GaugeMetricFamily(
        "tickets", "Tickets by status and service", labels=["status", "service"]
    )
    rows = await conn.execute(TICKETS_SQL, {"statuses": list(TICKET_STATUSES)})
    for status, service, count in rows:
        family.add_metric([status, service], count)
    return [family]


async def _jobs(conn: AsyncConnection) -> list[Metric]:
    finished: dict[tuple[str, str], int] = {}
    depth: dict[str, int] = {}
    for queue, task, status, count in await conn.execute(JOBS_SQL):
        depth[queue] = depth.get(queue, 0) + (count if status == "todo" else 0)
        for outcome in JOB_OUTCOMES:  # every outcome of a known task, zeros included
            finished.setdefault((task, outcome), 0)
        if status in JOB_OUTCOMES:
            finished[task, status] += count
    oldest = {queue: float(age or 0) for queue, age in await conn.execute(OLDEST_DUE_SQL)}

    total = CounterMetricFamily(
        "jobs",
        "Finished jobs by task and outcome (rows of procrastinate_jobs)",
        labels=["task", "outcome"],
    )
    for (task, outcome), count in sorted(finished.items()):
        total.add_metric([task, outcome], count)
    queue_depth = GaugeMetricFamily("job_queue_depth", "Jobs waiting (todo)", labels=["queue"])
    oldest_age = GaugeMetricFamily(
        "job_oldest_age_seconds", "How long the oldest due job has waited", labels=["queue"]
    )
    for queue in sorted(depth.keys() | oldest.keys()):
        queue_depth.add_metric([queue], depth.get(queue, 0))
        oldest_age.add_metric([queue], max(0.0, oldest.get(queue, 0.0)))
    return [total, queue_depth, oldest_age]


async def _deliveries(conn: AsyncConnection) -> list[Metric]:
    family = GaugeMetricFamily(
        "notification_deliveries",
        "Notification deliveries by channel and status",
        labels=["channel", "status"],
    )
    for channel, status, count in await conn.execute(DELIVERIES_SQL):
        family.add_metric([channel, status], count)
    oldest = GaugeMetricFamily(
        "notification_oldest_due_seconds",
        "How long the oldest due delivery has waited for a sender",
        labels=["channel"],
    )
    for channel, age in await conn.execute(OLDEST_DUE_DELIVERY_SQL):
        oldest.add_metric([channel], max(0.0, float(age or 0)))
    return [family, oldest]


Source = Callable[[AsyncConnection], Awaitable[list[Metric]]]
SOURCES: dict[str, Source] = {"tickets": _tickets, "jobs": _jobs, "deliveries": _deliveries}


class DatabaseMetrics(Collector):
    """The gauges only the database knows, refreshed by /metrics when older than
    `cache_seconds`, plus the connection pool as it is at collection time."""

    def __init__(self, cache_seconds: float = DEFAULT_CACHE_SECONDS) -> None:
        self.cache_seconds = cache_seconds
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        self._engine: AsyncEngine | None = None
        self._families: list[Metric] = []
        self._taken: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, engine: AsyncEngine) -> None:
        self._engine = engine
        async with self._lock:  # concurrent scrapes share one round of queries
            if self._taken is not None and time.monotonic() - self._taken < self.cache_seconds:
                return
            self._families = await self._query(engine)
            # Failures are cached too: a database that is down is not hammered by scrapes.
            self._taken = time.monotonic()

    async def _query(self, engine: AsyncEngine) -> list[Metric]:
        families: list[Metric] = []
        done: list[str] = []
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), engine.connect() as conn:
                for source, query in SOURCES.items():
                    try:
                        async with conn.begin():
                            families.extend(await query(conn))
                    except SQLAlchemyError as exc:
                        self._failed(source, exc)
                    done.append(source)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            for source in SOURCES:
                if source not in done:
                    self._failed(source, exc)
        return families

    @staticmethod
    def _failed(source: str, exc: BaseException) -> None:
        COLLECTION_ERRORS.labels(source).inc()
        log.warning("metrics_query_failed", source=source, error=repr(exc))

    def collect(self) -> Iterator[Metric]:
        yield from self._families
        pool = self._engine.pool if self._engine is not None else None
        if isinstance(pool, QueuePool):
            in_use = GaugeMetricFamily(
                "db_pool_connections_in_use", "Connections checked out of the SQLAlchemy pool"
            )
            in_use.add_metric([], pool.checkedout())
            yield in_use


# --- the endpoint --------------------------------------------------------------------------


SCRAPE_REFUSED_MESSAGE = "/metrics needs Authorization: Bearer <METRICS_TOKEN>"


def metrics_token_error(settings: Settings, authorization: str | None) -> str | None:
    """Why a scrape with this Authorization header is refused (`missing_token`,
    `invalid_token`), or None when it may read /metrics. The api and the worker both ask."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
    if not token:  # an empty METRICS_TOKEN= line means no token, like every unset secret
        return None
    scheme, _, credentials = (authorization or "").partition(" ")
    given = credentials.strip() if scheme.lower() == "bearer" else ""
    if not given:
        return "missing_token"
    if not hmac.compare_digest(given.encode(), token.encode()):
        return "invalid_token"
    return None


def install_metrics(
    app: FastAPI, settings: Settings, *, cache_seconds: float = DEFAULT_CACHE_SECONDS
) -> None:
    """`GET /metrics` (token-protected when METRICS_TOKEN is set). The request metrics are
    counted by the edge layer (ops/edge.py, `observe_request`), which sees every answer.

    `app.state.metrics.cache_seconds` may be changed later (tests set it to 0)."""
    collector = DatabaseMetrics(cache_seconds)
    app.state.metrics = collector

    async def metrics(request: Request) -> Response:
        refused = metrics_token_error(settings, request.headers.get("authorization"))
        if refused:
            return error_response(
                401, refused, SCRAPE_REFUSED_MESSAGE, headers={"WWW-Authenticate": "Bearer"}
            )
        engine: AsyncEngine | None = getattr(request.app.state, "engine", None)
        if engine is not None:
            await collector.refresh(engine)
        # Text format 0.0.4 is a plain sequence of families: two registries concatenate.
        body = generate_latest(REGISTRY) + generate_latest(collector.registry)
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
