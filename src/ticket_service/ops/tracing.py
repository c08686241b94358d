"""Tracing, optional and off by default: OpenTelemetry spans sent to an OTLP/HTTP collector.

Nothing is set up unless OTEL_EXPORTER_OTLP_ENDPOINT is set: the SDK, the exporter and
the instrumentations are not even imported, so a process without tracing starts as fast
as before. With it, each api or worker process gets one TracerProvider that sends spans in
batches to `<endpoint>/v1/traces`, and FastAPI, SQLAlchemy, redis-py and httpx are
instrumented. The other standard variables (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT,
_COMPRESSION, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_BSP_*) are read by the
SDK and the exporter themselves.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from importlib.metadata import version
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import trace

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ticket_service.config import Settings

# Probes and scrapes arrive every few seconds from every replica and say nothing about a
# request's story. Matched against the URL without its query string.
EXCLUDED_URLS = r"^[a-z]+://[^/]+/health/,^[a-z]+://[^/]+/metrics$"


class Tracing:
    """What configure_tracing set up in this process. Every method is a no-op when
    tracing is off, so callers need no `if`."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        # BaseInstrumentor subclasses; its module is marked untyped, hence Any.
        self._instrumented: list[Any] = []
        self._app: FastAPI | None = None

    def instrument_app(self, app: FastAPI) -> None:
        """Server spans named by route template. Call before the app serves anything:
        the middleware stack is built on the first call (the lifespan's included)."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=EXCLUDED_URLS,
            # One span per ASGI message only buries the spans that matter.
            exclude_spans=["receive", "send"],
            server_request_hook=_server_span_without_query,
        )
        self._app = app

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """SQL spans for this engine. The instrumentor is one per process: the api and
        the worker each have one engine, so the first engine is the only one."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        self._instrument(
            SQLAlchemyInstrumentor(),
            engine=engine.sync_engine,
            tracer_provider=self.provider,
            # 0.66b2, the newest, declares `sqlalchemy < 2.1` and would refuse our 2.1; the
            # engine events it uses are unchanged, and tests/ops/test_tracing.py proves it.
            skip_dep_check=True,
        )

    def shutdown(self) -> None:
        """Send the spans still queued and take the instrumentation back out."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        if self._app is not None:
            # Also restores BackgroundTask.__call__, which instrument_app patches globally.
            FastAPIInstrumentor.uninstrument_app(self._app)
            self._app = None
        while self._instrumented:
            self._instrumented.pop().uninstrument()
        self.provider.shutdown()

    def _instrument(self, instrumentor: Any, **options: Any) -> None:
        # Instrumentors are process-wide singletons: undo only what this object did, so
        # shutting one app down never strips another's instrumentation.
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**options)
            if instrumentor.is_instrumented_by_opentelemetry:  # it may refuse (and log why)
                self._instrumented.append(instrumentor)


def configure_tracing(settings: Settings, service_name: str) -> Tracing:
    """Tracing for this process when OTEL_EXPORTER_OTLP_ENDPOINT is set, else a no-op.

    `service_name` is the default `service.name` (OTEL_SERVICE_NAME wins). Redis and httpx
    are instrumented here, for every client in the process (libraries such as `limits` and
    httpx-oauth make their own); the app and the engine are handed to the result.
    """
    if not settings.otel_exporter_otlp_endpoint:
        return Tracing()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {
            SERVICE_NAME: settings.otel_service_name or service_name,
            SERVICE_VERSION: version("ticket-service"),
        }
    )
    provider = TracerProvider(resource=resource)
    # The exporter appends /v1/traces only to an endpoint it reads from the environment
    # itself; ours may come from .env, so say where traces go. A signal-specific
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT still wins, as the OTLP spec wants.
    endpoint = None
    if not os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    # The global provider can be set once per process; it serves code that asks the API
    # for a tracer (the worker's job spans). Instrumentation gets this provider explicitly.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)

    tracing = Tracing(provider)
    tracing._instrument(RedisInstrumentor(), tracer_provider=provider)
    tracing._instrument(
        HTTPXClientInstrumentor(),
        tracer_provider=provider,
        request_hook=_client_span_origin_only,
        async_request_hook=_async_client_span_origin_only,
    )
    return tracing


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's ids on every log line, so a line leads to
    its trace and a trace to its lines. Nothing is added outside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", trace.format_trace_id(context.trace_id))
        event.setdefault("span_id", trace.format_span_id(context.span_id))
    return event


async def trace_job(call_next: Callable[[], Awaitable[Any]], context: Any, worker: object) -> Any:
    """procrastinate worker middleware: one span per job, so the SQL, Redis and HTTP calls
    of a job form one trace instead of one trace each."""
    job = context.job
    # Asked for on every job, not once at import: the global provider is set later.
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span(
        f"job {job.task_name}",
        kind=trace.SpanKind.CONSUMER,
        attributes={"procrastinate.task": job.task_name, "procrastinate.job.id": job.id},
    ):
        return await call_next()


def _rewrite_urls(span: trace.Span, keep: Callable[[str], str]) -> None:
    # Which attribute holds the URL depends on OTEL_SEMCONV_STABILITY_OPT_IN; rewrite the
    # ones the instrumentation set (an SDK span exposes them) and add none.
    attributes = getattr(span, "attributes", None) or {}
    for key in ("http.url", "url.full"):
        value = attributes.get(key)
        if isinstance(value, str):
            span.set_attribute(key, keep(value))
    if "url.query" in attributes:
        span.set_attribute("url.query", "REDACTED")


def _server_span_without_query(span: trace.Span, scope: dict[str, Any]) -> None:
    # The Discord callback's query string holds the one-time code and state, which are
    # kept out of logs and so out of traces too.
    if span.is_recording() and scope.get("query_string"):
        _rewrite_urls(span, lambda url: url.split("?", 1)[0])


def _client_span_origin_only(span: trace.Span, request: object) -> None:
    # Slack and Discord webhook URLs carry their secret in the path, and any webhook URL
    # is a credential here (README "Security"): client spans keep scheme, host and port.
    if span.is_recording():
        _rewrite_urls(span, _origin)


async def _async_client_span_origin_only(span: trace.Span, request: object) -> None:
    _client_span_origin_only(span, request)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}"
