"""Retries of webhook deliveries against real receivers on 127.0.0.1, run by the real worker:
backoff, Retry-After, a receiver that is down, permanent failures, admin replays, a sent
delivery never sent again."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg
import structlog

from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.retry_helpers import Receiver, Reply, eventually, free_port
from ticket_service.notifications.tasks import MAX_BACKOFF_SECONDS, backoff_seconds
from ticket_service.users.models import Role


async def _one_ticket(build: Any, url: str, **overrides: Any) -> tuple[Any, Any, Any, dict]:
    """App configured with one webhook receiver; an employee opens one ticket."""
    app, client, settings = await build(webhook_urls=[url], webhook_secret="s3cret", **overrides)
    employee = await auth_headers(app, "200", Role.employee)
    await open_ticket(client, employee)
    return app, client, settings, employee


async def test_two_503s_then_sent_on_third_attempt_with_growing_backoff(build, database_url):
    base = 0.4
    with Receiver(
        [Reply(503, body=b"busy"), Reply(503, body=b"busy")],
        on_hit=lambda: deliveries(database_url)[0],  # the row as committed when a request arrives
    ) as receiver:
        *_, settings, _ = await _one_ticket(build, receiver.url, notify_retry_base_seconds=base)
        await run_worker_until_idle(settings)

    assert [hit.status for hit in receiver.hits] == [503, 503, 200]
    (row,) = deliveries(database_url)
    assert row["status"] == "sent"
    assert row["attempts"] == 3
    assert "503" in row["last_error"]
    # The row seen when attempt n+1 arrived holds the retry time recorded by attempt n;
    # attempt n+1 had already been claimed (leased and counted) and committed.
    for n in (0, 1):
        seen = receiver.hits[n + 1].seen
        assert (seen["status"], seen["attempts"]) == ("sending", n + 2)
        assert seen["lease_until"] is not None
        recorded = seen["next_attempt_at"].timestamp() - receiver.hits[n].at
        nominal = base * 2**n  # base·2^(attempt-1), then jitter of ±50 %
        assert 0.5 * nominal - 0.05 <= recorded <= 1.5 * nominal + 0.01, (n, recorded)
        # ...and the worker kept to it: attempt n+1 never came earlier.
        assert receiver.hits[n + 1].at - receiver.hits[n].at >= recorded - 0.01
    # With ±50 % jitter two consecutive waits may be equal; the windows above double
    # (test_backoff_doubles_per_attempt_with_jitter shows the rule itself).
    assert receiver.event_ids()[0] == receiver.event_ids()[1] == receiver.event_ids()[2]


def test_backoff_doubles_per_attempt_with_jitter():
    # Jitter makes two consecutive real waits overlap; the distribution shows the rule.
    for attempt in range(1, 7):
        nominal = 2.0 * 2 ** (attempt - 1)
        waits = [backoff_seconds(2.0, attempt) for _ in range(300)]
        assert all(0.5 * nominal <= w <= 1.5 * nominal for w in waits)
        assert min(waits) < 0.7 * nominal  # spread out: workers never retry in lockstep
        assert max(waits) > 1.3 * nominal
    assert backoff_seconds(30.0, 40) <= 1.5 * MAX_BACKOFF_SECONDS


async def test_429_retry_after_is_honoured(build, database_url):
    with Receiver(
        [Reply(429, headers={"Retry-After": "1"}, body=b"slow down")],
        on_hit=lambda: deliveries(database_url)[0],
    ) as receiver:
        *_, settings, _ = await _one_ticket(build, receiver.url)  # base 0.05 s: 1 s is theirs
        await run_worker_until_idle(settings)

    first, second = receiver.hits
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.98
    assert 0.95 <= second.seen["next_attempt_at"].timestamp() - first.at <= 1.1
    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert "429" in row["last_error"]


def _waiting_after(row: dict[str, Any], attempts: int) -> dict[str, Any] | None:
    """The row when at least `attempts` attempts failed and it waits for the next one."""
    return row if row["attempts"] >= attempts and row["status"] == "failed" else None


async def test_receiver_down_then_up_on_same_port_gets_one_copy(build, database_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    *_, settings, _ = await _one_ticket(build, url)
    worker = asyncio.create_task(run_worker_until_idle(settings))
    try:
        # Nothing listens yet: connection refused, attempt after attempt. Between two
        # attempts the row says failed (the next attempt may already be under way, as
        # sending, when it is read: read until it is seen waiting).
        row = await eventually(
            lambda: _waiting_after(deliveries(database_url)[0], attempts=3),
            what="three refused attempts",
        )
        assert "Connect" in row["last_error"]
        with Receiver(port=port) as receiver:
            await asyncio.wait_for(worker, 20)
    finally:
        worker.cancel()
        # The worker closes its pool as it unwinds: done before the next test opens one.
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    assert len(receiver.hits) == 1
    (row,) = deliveries(database_url)
    assert row["status"] == "sent"
    assert row["attempts"] >= 4


async def test_400_is_dead_at_once_and_an_admin_replays_it(build, database_url):
    with Receiver([Reply(400, body=b"unknown field")]) as receiver:
        app, client, settings, employee = await _one_ticket(build, receiver.url)
        admin = await auth_headers(app, "100", Role.admin)
        await run_worker_until_idle(settings)

        (row,) = deliveries(database_url)
        assert (row["status"], row["attempts"]) == ("dead", 1)
        assert len(receiver.hits) == 1

        r = await client.get("/api/v1/admin/deliveries?status=dead", headers=employee)
        assert r.status_code == 403, r.text
        r = await client.get("/api/v1/admin/deliveries?status=dead", headers=admin)
        assert r.status_code == 200, r.text
        (item,) = r.json()["items"]
        assert item["id"] == row["id"]
        assert item["channel"] == "webhook"
        assert item["status"] == "dead"
        # The status code and a fixed reason; the receiver's own words are never kept.
        assert item["last_error"] == "HTTP 400 from receiver"
        assert "unknown field" not in r.text

        r = await client.post(f"/api/v1/admin/deliveries/{row['id']}/retry", headers=employee)
        assert r.status_code == 403, r.text
        r = await client.post(f"/api/v1/admin/deliveries/{row['id']}/retry", headers=admin)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["attempts"]) == ("pending", 0)

        await run_worker_until_idle(settings)  # the receiver accepts now
        assert [hit.status for hit in receiver.hits] == [400, 200]
        (row,) = deliveries(database_url)
        assert (row["status"], row["attempts"]) == ("sent", 1)
        r = await client.get("/api/v1/admin/deliveries?status=dead", headers=admin)
        assert r.json()["items"] == []

        r = await client.post(f"/api/v1/admin/deliveries/{row['id']}/retry", headers=admin)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "delivery_not_dead"
        r = await client.post(f"/api/v1/admin/deliveries/{row['id'] + 1000}/retry", headers=admin)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "delivery_not_found"
    assert len(receiver.hits) == 2  # nothing more after the refused replay


async def test_always_500_is_dead_after_max_attempts(build, database_url):
    with Receiver(default=Reply(500, body=b"boom")) as receiver:
        *_, settings, _ = await _one_ticket(build, receiver.url, notify_max_attempts=3)
        await run_worker_until_idle(settings)

    assert [hit.status for hit in receiver.hits] == [500, 500, 500]
    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("dead", 3)
    assert row["next_attempt_at"] is None
    assert "500" in row["last_error"]


async def test_a_sent_delivery_is_never_sent_again(build, database_url):
    with Receiver() as receiver:
        *_, settings, _ = await _one_ticket(build, receiver.url)
        await run_worker_until_idle(settings)
        (sent,) = deliveries(database_url)
        assert sent["status"] == "sent"

        # The senders are woken again (another change, a replay elsewhere) and poll.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('ticket_deliveries', '')")
        await run_worker_until_idle(settings, within=0.5)

    assert len(receiver.hits) == 1
    (row,) = deliveries(database_url)
    assert (row["attempts"], row["sent_at"], row["status"]) == (1, sent["sent_at"], "sent")


async def test_a_deleted_delivery_is_not_sent(build, database_url):
    with Receiver() as receiver:
        *_, settings, _ = await _one_ticket(build, receiver.url)
        (row,) = deliveries(database_url)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM notification_deliveries WHERE id = %s", (row["id"],))
        with structlog.testing.capture_logs() as logs:
            await run_worker_until_idle(settings, within=0.5)

    assert receiver.hits == []
    assert [e for e in logs if e["log_level"] in ("warning", "error")] == []
