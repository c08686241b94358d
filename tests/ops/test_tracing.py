"""Tracing end to end: the api and the worker send OTLP/HTTP to a real receiver on 127.0.0.1
(pytest-httpserver), and what arrives is decoded with the collector's own protobuf types."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanPb
from opentelemetry.util._once import Once
from pytest_httpserver import HTTPServer

from tests.conftest import make_settings
from tests.factories import auth_headers, open_ticket
from ticket_service.main import create_app
from ticket_service.ops.logging import configure_logging

TRACES = "/v1/traces"


@dataclass(frozen=True)
class Span:
    service: str
    version: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None


def collector(server: HTTPServer) -> str:
    """An OTLP/HTTP receiver on `server`; its base URL, as OTEL_EXPORTER_OTLP_ENDPOINT."""
    server.expect_request(TRACES, method="POST").respond_with_data(
        b"", content_type="application/x-protobuf"
    )
    return server.url_for("/")


def exports(server: HTTPServer) -> list[bytes]:
    return [req.get_data() for req, _ in server.log if req.path == TRACES]


def exported_spans(server: HTTPServer) -> list[Span]:
    spans = []
    for body in exports(server):
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        Span(
                            service=resource["service.name"],
                            version=resource["service.version"],
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
    return spans


def sql(span: Span) -> str:
    text = span.attributes.get("db.statement") or span.attributes.get("db.query.text") or ""
    return str(text)


@pytest.fixture(autouse=True)
def fresh_global_tracer_provider() -> Iterator[None]:
    """configure_tracing installs the global provider when none is set; OTel allows that
    once per process and offers no public way back (its own test helpers reset these)."""
    yield
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Where a test's JSON log lines go once it calls configure_logging on it (in the test
    body: pytest sets the root level again between setup and call)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield io.StringIO()
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.getvalue().splitlines() if x.startswith("{")]


async def test_a_request_is_one_trace_from_route_to_sql_and_redis(
    database_url, redis_url, httpserver, json_logs, monkeypatch
) -> None:
    # The standard variable, as an operator sets it.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector(httpserver))
    configure_logging(json_lines=True, stream=json_logs)
    app = create_app(make_settings(database_url, redis_url, httpserver.url_for("/api/v10")))
    async with LifespanManager(app):
        headers = await auth_headers(app, "1001")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            ticket = await open_ticket(c, headers)
            assert (await c.get("/health/live")).status_code == 200
            assert (await c.get("/metrics")).status_code == 200
    # Leaving the lifespan shut the provider down, which sent what was still queued.

    spans = exported_spans(httpserver)
    # Probes and scrapes make no span at all: the ticket's is the only server span.
    servers = [s for s in spans if s.kind == SpanPb.SPAN_KIND_SERVER]
    assert [s.name for s in servers] == ["POST /api/v1/tickets"]
    [server] = servers
    assert server.attributes["http.route"] == "/api/v1/tickets"
    assert (server.service, server.version) == ("ticket-service-api", version("ticket-service"))
    in_trace = [s for s in spans if s.trace_id == server.trace_id]
    inserts = [s for s in in_trace if "INSERT INTO tickets" in sql(s)]
    assert inserts, [sql(s) for s in in_trace]
    assert any(s.attributes.get("db.system") == "redis" for s in in_trace)
    assert not [s for s in spans if "/health" in s.name or "/metrics" in s.name]

    # The request's log line leads to its trace.
    [request_line] = [
        x for x in lines(json_logs) if x["event"] == "request" and x["route"] == "/api/v1/tickets"
    ]
    assert request_line["trace_id"] == server.trace_id
    assert len(request_line["span_id"]) == 16
    assert ticket["guid_ticket"]


async def test_login_codes_stay_out_of_traces(
    database_url, redis_url, httpserver, monkeypatch
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "desk-api")
    settings = make_settings(
        database_url,
        redis_url,
        httpserver.url_for("/api/v10"),
        otel_exporter_otlp_endpoint=collector(httpserver),
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await c.get(
                "/api/discord/auth", params={"code": "one-time-code-42", "state": "state-77"}
            )
            assert response.status_code == 401  # an unknown state

    [server] = [s for s in exported_spans(httpserver) if s.kind == SpanPb.SPAN_KIND_SERVER]
    assert (server.service, server.attributes["http.route"]) == ("desk-api", "/api/discord/auth")
    assert server.attributes["http.url"] == "http://testserver/api/discord/auth"
    sent = b"".join(exports(httpserver))
    assert b"one-time-code-42" not in sent
    assert b"state-77" not in sent


async def test_a_job_is_one_trace_with_its_sql_and_webhook_call(
    database_url, redis_url, httpserver
) -> None:
    from ticket_service.worker.app import run_worker

    hook = "/hooks/T0001/s3cr3t-hook-token"
    httpserver.expect_request(hook, method="POST").respond_with_data("", status=204)
    channels = {"webhook_urls": [httpserver.url_for(hook)], "webhook_secret": "whsec-1"}
    # The api untraced, the worker traced: each process decides for itself.
    api = create_app(
        make_settings(database_url, redis_url, httpserver.url_for("/api/v10"), **channels)
    )
    async with LifespanManager(api):
        headers = await auth_headers(api, "1001")
        transport = httpx.ASGITransport(app=api)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await open_ticket(c, headers)
    worker_settings = make_settings(
        database_url,
        redis_url,
        httpserver.url_for("/api/v10"),
        otel_exporter_otlp_endpoint=collector(httpserver),
        worker_metrics_port=0,
        **channels,
    )
    await run_worker(worker_settings, concurrency=1, wait=False, listen_notify=False)

    assert [r for r, _ in httpserver.log if r.path == hook], "the webhook was not called"
    spans = exported_spans(httpserver)
    assert {s.service for s in spans} == {"ticket-service-worker"}
    [job] = [s for s in spans if s.name == "job deliver"]
    assert job.kind == SpanPb.SPAN_KIND_CONSUMER
    in_job = [s for s in spans if s.trace_id == job.trace_id]
    [call] = [s for s in in_job if s.kind == SpanPb.SPAN_KIND_CLIENT and s.name == "POST"]
    # The webhook URL is a credential: the span keeps its origin only.
    assert call.attributes["http.url"] == httpserver.url_for("/").rstrip("/")
    assert any(sql(s).startswith(("SELECT", "UPDATE")) for s in in_job)
    assert b"s3cr3t-hook-token" not in b"".join(exports(httpserver))


async def test_without_an_endpoint_nothing_is_installed(
    database_url, redis_url, httpserver, json_logs, monkeypatch
) -> None:
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    configure_logging(json_lines=True, stream=json_logs)
    app = create_app(make_settings(database_url, redis_url, httpserver.url_for("/api/v10")))
    async with LifespanManager(app):
        headers = await auth_headers(app, "1001")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await open_ticket(c, headers)
        instrumented = [
            i.is_instrumented_by_opentelemetry
            for i in (RedisInstrumentor(), HTTPXClientInstrumentor(), SQLAlchemyInstrumentor())
        ]
        assert instrumented == [False, False, False]
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    [request_line] = [x for x in lines(json_logs) if x["event"] == "request"]
    assert "trace_id" not in request_line


def test_without_an_endpoint_startup_loads_no_tracing_code() -> None:
    """In a fresh process, so nothing another test imported counts."""
    script = textwrap.dedent(
        """
        import sys
        from opentelemetry import trace
        from ticket_service.config import Settings
        from ticket_service.main import create_app

        create_app(Settings(_env_file=None, database_url="postgresql://u@127.0.0.1/db"))
        heavy = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrument")
        print(sorted(m for m in sys.modules if m.startswith(heavy)))
        print(type(trace.get_tracer_provider()).__name__)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split("\n")[:2] == ["[]", "ProxyTracerProvider"]
