"""What an operator relies on: headers, CORS, request ids, readiness, structured logs."""

from __future__ import annotations

import io
import json
import logging

import httpx
import psycopg
import pytest
import structlog
from asgi_lifespan import LifespanManager

from tests.conftest import make_settings
from tests.factories import auth_headers
from ticket_service.main import create_app
from ticket_service.ops.logging import configure_logging


async def test_security_headers_on_api_and_docs(client):
    api = await client.get("/health/live")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in api.headers["content-security-policy"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "content-security-policy" not in docs.headers  # Swagger UI loads its own scripts
    assert "strict-transport-security" not in api.headers  # only in production


async def test_cors_only_for_configured_origins(database_url, redis_url, discord):
    settings = make_settings(
        database_url,
        redis_url,
        discord.url_for("/api/v10"),
        cors_origins=["https://desk.1440.test"],
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await client.options(
            "/api/v1/tickets", headers={"Origin": "https://desk.1440.test", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://desk.1440.test"
        refused = await client.options(
            "/api/v1/tickets", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers


async def test_request_id_is_echoed_only_when_it_is_a_plain_token(client):
    mine = await client.get("/health/live", headers={"X-Request-ID": "req-42.a_b"})
    assert mine.headers["x-request-id"] == "req-42.a_b"
    odd = await client.get("/health/live", headers={"X-Request-ID": "a b<script>"})
    assert odd.headers["x-request-id"] != "a b<script>"
    assert len(odd.headers["x-request-id"]) == 32  # a fresh one


async def test_ready_reports_migrations(client, database_url):
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["migrations"] == "current"
    with psycopg.connect(database_url, autocommit=True) as conn:
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = '0001_core'")
        try:
            behind = await client.get("/health/ready")
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert behind.status_code == 503
    assert behind.json()["migrations"].startswith("behind")


@pytest.fixture
def json_logs():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging(json_lines=True, stream=out)
    yield out
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


async def test_every_request_logs_one_json_line_with_its_ids(app, client, json_logs):
    headers = await auth_headers(app, "1001")
    response = await client.post(
        "/api/v1/tickets",
        json={"text": "секретный текст"},
        headers={**headers, "X-Request-ID": "r-1"},
    )
    assert response.status_code == 201
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    [line] = [entry for entry in lines if entry.get("event") == "request"]
    assert line["request_id"] == "r-1"
    assert line["guid_action"] == response.headers["x-action-id"]
    assert (line["route"], line["status"], line["action"], line["actor"]) == (
        "/api/v1/tickets",
        201,
        "open_ticket",
        "1001",
    )
    printed = "\n".join(json.dumps(entry, ensure_ascii=False) for entry in lines)
    assert headers["Authorization"].split()[1] not in printed
    assert "секретный текст" not in printed


async def test_an_exhausted_connection_pool_is_503_not_500(database_url, redis_url, discord):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), db_pool_size=1, db_max_overflow=1
    )
    app = create_app(settings)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        headers = await auth_headers(app, "1001")
        engine = app.state.engine
        # Pool of 1 + overflow 1: hold both, as a burst of slow requests would.
        async with engine.connect(), engine.connect():
            busy = await client.get("/api/v1/tickets", headers=headers)
        assert busy.status_code == 503
        assert busy.json()["error"]["code"] == "database_unavailable"
        assert busy.headers["retry-after"]
        assert (await client.get("/api/v1/tickets", headers=headers)).status_code == 200
