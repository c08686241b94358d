"""GET /metrics as Prometheus scrapes it: request counters by route template, the token,
the database-backed gauges (cached), jobs, deliveries, sign-ins and Redis errors.

Counters are process-wide (one default registry for every app a test builds), so tests
compare a scrape before and after what they do.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from sqlalchemy import text

from tests.api.conftest import assert_error, on_closed_port
from tests.auth.discord_stub import GUILD_ID, DiscordStub, sign_in
from tests.conftest import make_settings
from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import run_worker_until_idle
from tests.notifications.receivers import receive
from ticket_service.main import create_app
from ticket_service.worker.app import open_jobs

TICKET = "/api/v1/tickets/{guid_ticket}"
TOKEN = "metrics-token-0123456789"


class Scrape:
    """One /metrics answer, parsed: sample name + labels -> value."""

    def __init__(self, body: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                self.samples[sample.name, frozenset(sample.labels.items())] = sample.value

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def value(self, name: str, **labels: str) -> float:
        """A counter's value; a series not born yet counts as 0."""
        return self.get(name, **labels) or 0.0

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}

    def labels_of(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for n, labels in self.samples if n == name]


async def scrape(client: httpx.AsyncClient, **headers: str) -> Scrape:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


@asynccontextmanager
async def running(settings: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, c


@pytest.fixture
def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def settings_with(database_url, redis_url, discord):
    def make(**overrides: Any) -> Any:
        return make_settings(
            overrides.pop("database_url", database_url),
            overrides.pop("redis_url", redis_url),
            overrides.pop("discord_api_base_url", discord.url_for("/api/v10")),
            **overrides,
        )

    return make


# --- requests ------------------------------------------------------------------------------


async def test_requests_counted_by_route_template(app, client):
    headers = await auth_headers(app, "1001")
    before = await scrape(client)

    ticket = await open_ticket(client, headers)
    guid = ticket["guid_ticket"]
    for _ in range(2):
        assert (await client.get(f"/api/v1/tickets/{guid}", headers=headers)).status_code == 200
    missing = await client.get(f"/api/v1/tickets/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    wrong_method = await client.delete(f"/api/v1/tickets/{guid}", headers=headers)
    assert wrong_method.status_code == 405
    assert (await client.get("/no/such/path/42")).status_code == 404
    too_big = await client.post(
        "/api/v1/tickets", content=b"x" * 70_000, headers={**headers, "content-type": "text/plain"}
    )
    assert too_big.status_code == 413

    after = await scrape(client)
    counted = {
        ("POST", "/api/v1/tickets", "201"): 1,
        ("POST", "<unmatched>", "413"): 1,  # refused before routing: no route yet
        ("GET", TICKET, "200"): 2,
        ("GET", TICKET, "404"): 1,
        ("DELETE", TICKET, "405"): 1,
        ("GET", "<unmatched>", "404"): 1,
    }
    for (method, route, status), expected in counted.items():
        labels = {"method": method, "route": route, "status": status}
        assert delta(before, after, "http_requests_total", **labels) == expected, labels
    assert (
        delta(before, after, "http_request_duration_seconds_count", method="GET", route=TICKET) == 3
    )
    assert (
        delta(
            before,
            after,
            "http_request_duration_seconds_bucket",
            method="GET",
            route=TICKET,
            le="+Inf",
        )
        == 3
    )
    # Raw paths never become label values.
    routes = {labels["route"] for labels in after.labels_of("http_requests_total")}
    assert not [route for route in routes if guid in route or "/no/such" in route]
    # The previous scrape is counted like any request.
    assert (
        delta(before, after, "http_requests_total", method="GET", route="/metrics", status="200")
        == 1
    )


async def test_metrics_is_neither_logged_nor_documented(client, redis_client):
    await scrape(client)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert redis_client.keys("logs:actions:*") == []
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_token_required_when_set(settings_with):
    async with running(settings_with(metrics_token=TOKEN)) as (_, client):
        error = assert_error(await client.get("/metrics"), 401, "missing_token")
        assert "METRICS_TOKEN" in error["message"]
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert_error(wrong, 401, "invalid_token")
        assert wrong.headers["www-authenticate"] == "Bearer"
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        assert_error(basic, 401, "missing_token")
        right = await scrape(client, Authorization=f"Bearer {TOKEN}")
        assert "http_requests_total" in right.names()


async def test_open_without_a_token(client):
    # The `settings` fixture sets no METRICS_TOKEN: Prometheus scrapes without one.
    assert "http_requests_total" in (await scrape(client)).names()


# --- database-backed gauges ----------------------------------------------------------------


async def test_tickets_gauge_follows_tickets_after_the_cache_expires(app, client):
    app.state.metrics.cache_seconds = 0
    headers = await auth_headers(app, "1001")
    first = await scrape(client)
    assert first.get("tickets", status="open", service="general") == 0
    assert first.get("tickets", status="closed_fail", service="general") == 0

    tickets = [await open_ticket(client, headers) for _ in range(2)]
    assert (await scrape(client)).get("tickets", status="open", service="general") == 2

    app.state.metrics.cache_seconds = 3600
    closed = await client.post(
        f"/api/v1/tickets/{tickets[0]['guid_ticket']}/status",
        json={"status": "closed_fail"},
        headers=headers,
    )
    assert closed.status_code == 200, closed.text
    cached = await scrape(client)
    assert cached.get("tickets", status="open", service="general") == 2
    assert cached.get("tickets", status="closed_fail", service="general") == 0

    app.state.metrics.cache_seconds = 0
    fresh = await scrape(client)
    assert fresh.get("tickets", status="open", service="general") == 1
    assert fresh.get("tickets", status="closed_fail", service="general") == 1


async def test_db_pool_in_use(app, client):
    async with app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        assert (await scrape(client)).get("db_pool_connections_in_use") == 1
    assert (await scrape(client)).get("db_pool_connections_in_use") == 0


async def test_queue_depth_and_oldest_due_job(settings_with, database_url):
    settings = settings_with()
    async with running(settings) as (app, client):
        app.state.metrics.cache_seconds = 0
        assert (await scrape(client)).get("job_queue_depth", queue="notifications") is None

        # A job waits in the queue (a delivery is not a job: the rows are their own queue).
        async with open_jobs(settings) as jobs:
            task = jobs.configure_task("prune_deliveries", queue="notifications")
            await task.defer_async(timestamp=0)
        queued = await scrape(client)
        assert queued.get("job_queue_depth", queue="notifications") == 1
        age = queued.get("job_oldest_age_seconds", queue="notifications")
        assert age is not None
        assert 0 <= age < 60

        # Due for ten minutes: a worker should have taken it long ago.
        set_scheduled_at(database_url, -600)
        late = await scrape(client)
        assert late.get("job_queue_depth", queue="notifications") == 1
        age = late.get("job_oldest_age_seconds", queue="notifications")
        assert age is not None
        assert 600 <= age < 660

        # Scheduled for later: waiting, but not late.
        set_scheduled_at(database_url, 3600)
        later = await scrape(client)
        assert later.get("job_queue_depth", queue="notifications") == 1
        assert later.get("job_oldest_age_seconds", queue="notifications") == 0


async def test_oldest_due_delivery(settings_with, database_url, closed_port):
    # The senders' queue is the delivery rows: how long the oldest due one has waited.
    settings = settings_with(webhook_urls=[f"http://127.0.0.1:{closed_port}/hook"])
    async with running(settings) as (app, client):
        app.state.metrics.cache_seconds = 0
        assert (await scrape(client)).get("notification_oldest_due_seconds") is None
        await open_ticket(client, await auth_headers(app, "1001"))
        fresh = (await scrape(client)).get("notification_oldest_due_seconds", channel="webhook")
        assert fresh is not None
        assert 0 <= fresh < 60

        def deliveries(assignments: str) -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f"UPDATE notification_deliveries SET {assignments}")  # noqa: S608

        # Written ten minutes ago and never sent: no sender is taking them.
        deliveries("created_at = now() - interval '10 minutes'")
        late = (await scrape(client)).get("notification_oldest_due_seconds", channel="webhook")
        assert late is not None
        assert 600 <= late < 660
        # A retry scheduled for later waits, but is not late.
        deliveries("status = 'failed', next_attempt_at = now() + interval '1 hour'")
        assert (await scrape(client)).get("notification_oldest_due_seconds") is None
        # Leased by a sender that died two minutes ago: due since its lease ran out.
        deliveries("status = 'sending', lease_until = now() - interval '2 minutes'")
        dead = (await scrape(client)).get("notification_oldest_due_seconds", channel="webhook")
        assert dead is not None
        assert 120 <= dead < 180


def set_scheduled_at(database_url: str, seconds_from_now: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() + %s * interval '1 second'"
            " WHERE status = 'todo'",
            (seconds_from_now,),
        )


async def test_jobs_and_deliveries_after_the_worker_ran(settings_with, httpserver):
    good = receive(httpserver, "/good")
    httpserver.expect_request("/bad", method="POST").respond_with_data("down", status=500)
    bad = httpserver.url_for("/bad")
    settings = settings_with(
        webhook_urls=[good, bad], notify_max_attempts=2, notify_retry_base_seconds=0.05
    )
    async with running(settings) as (app, client):
        app.state.metrics.cache_seconds = 0
        before = await scrape(client)
        await open_ticket(client, await auth_headers(app, "1001"))
        pending = await scrape(client)
        assert pending.labels_of("notification_deliveries") == [
            {"channel": "webhook", "status": "pending"}
        ]
        assert pending.get("notification_deliveries", channel="webhook", status="pending") == 2

        await run_worker_until_idle(settings)
        after = await scrape(client)

    assert after.get("notification_deliveries", channel="webhook", status="sent") == 1
    assert after.get("notification_deliveries", channel="webhook", status="dead") == 1
    assert after.get("notification_deliveries", channel="webhook", status="pending") is None
    # The worker ran in this process, so its attempts are in this registry.
    for outcome, expected in {"sent": 1, "failed": 1, "dead": 1}.items():
        labels = {"channel": "webhook", "outcome": outcome}
        assert delta(before, after, "notification_attempts_total", **labels) == expected, outcome
    # The rows are the queue: no procrastinate job was queued for them.
    assert after.get("jobs_total", task="deliver", outcome="succeeded") is None
    assert after.get("job_queue_depth", queue="notifications") is None


async def test_metrics_answer_when_postgres_is_unreachable(
    settings_with, database_url, closed_port
):
    down = settings_with(database_url=on_closed_port(database_url, closed_port))
    async with running(down) as (app, client):
        before = await scrape(client)
        after = await scrape(client)  # within the cache period: no second attempt
        app.state.metrics.cache_seconds = 0
        retried = await scrape(client)

    for scraped in (before, after, retried):
        assert "http_requests_total" in scraped.names()
        gone = {"tickets", "jobs_total", "job_queue_depth", "notification_deliveries"}
        assert not gone & scraped.names()
        assert scraped.get("db_pool_connections_in_use") == 0
    for source in ("tickets", "jobs", "deliveries"):
        assert delta(before, after, "metrics_collection_errors_total", source=source) == 0
        assert delta(after, retried, "metrics_collection_errors_total", source=source) == 1


# --- sign-ins and Redis ----------------------------------------------------------------------


async def test_login_outcomes(client, settings_with, discord: HTTPServer, closed_port):
    stub = DiscordStub(discord)
    before = await scrape(client)

    code = stub.user("42")
    assert (await sign_in(client, code)).status_code == 200
    assert (await sign_in(client, code)).status_code == 401  # a code works once
    bogus = await client.get("/api/discord/auth", params={"code": "c", "state": "forged"})
    assert bogus.status_code == 401
    async with running(settings_with(discord_guild_id=GUILD_ID)) as (_, guild_client):
        outsider = await sign_in(guild_client, stub.user("77", "mallory", roles=None))
        assert outsider.status_code == 403
    unreachable = f"http://127.0.0.1:{closed_port}/api/v10"
    async with running(settings_with(discord_api_base_url=unreachable)) as (_, lost_client):
        assert (await sign_in(lost_client, "any-code")).status_code == 503

    after = await scrape(client)
    for outcome in (
        "success",
        "invalid_code",
        "invalid_state",
        "not_guild_member",
        "discord_unavailable",
    ):
        assert delta(before, after, "discord_logins_total", outcome=outcome) == 1, outcome


async def test_redis_errors_counted(settings_with, closed_port):
    settings = settings_with(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    async with running(settings) as (_, client):
        before = await scrape(client)
        ready = await client.get("/health/ready")
        assert ready.json()["redis"] == "down"
        assert (await client.get("/api/discord/auth_link")).status_code == 200
        after = await scrape(client)
    assert delta(before, after, "redis_errors_total", operation="ping") == 1
    assert delta(before, after, "redis_errors_total", operation="action_log_write") == 1
