"""The delivery lease: a claimed delivery is left alone while its lease runs, claimable
once it has expired, and an outcome is recorded only under the lease that sent it."""

from __future__ import annotations

import time
from typing import Any

import psycopg

from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.retry_helpers import Receiver
from ticket_service.notifications import repository
from ticket_service.notifications.channels import PermanentFailure, TemporaryFailure
from ticket_service.notifications.tasks import Claimed, claimed, record
from ticket_service.users.models import Role
from ticket_service.worker.resources import Resources, open_resources


def _sql(database_url: str, sql: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


async def test_a_leased_delivery_waits_for_its_lease_then_is_retried(build, database_url):
    with Receiver() as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        (row,) = deliveries(database_url)

        # A sender claims the delivery and is slow to send it (it has not died).
        async with open_resources(settings) as resources:
            slow = await _claim(resources)
            assert slow is not None
            assert slow.delivery.id == row["id"]
            assert await _claim(resources) is None  # leased: not due

        # Another sender, running meanwhile, sends nothing.
        await run_worker_until_idle(settings, within=1.5)
        assert receiver.hits == []
        leased = deliveries(database_url)[0]
        assert (leased["status"], leased["attempts"]) == ("sending", 1)

        # The lease runs out (the sender died after all): the next sender claims and sends.
        _sql(database_url, "UPDATE notification_deliveries SET lease_until = now()")
        await run_worker_until_idle(settings)
        assert len(receiver.hits) == 1
        sent = deliveries(database_url)[0]
        assert (sent["status"], sent["attempts"]) == ("sent", 2)

        # The slow worker comes back with its outcome: its lease is no longer the current
        # one, so nothing it says is recorded.
        async with open_resources(settings) as resources:
            late = await record(resources, slow, None)
        assert late == ("lease_lost", None)
        assert deliveries(database_url)[0]["attempts"] == 2


async def _claim(resources: Resources) -> Claimed | None:
    """What one sender's claim of one delivery leases (None: nothing is due)."""
    at = time.monotonic()
    async with resources.autocommit.connect() as connection:
        rows = await repository.claim_due(connection, 1, resources.settings.notify_lease_seconds)
    return claimed(resources.settings, *rows[0], at) if rows else None


async def test_a_failure_reported_under_a_lost_lease_is_not_recorded(build, database_url):
    with Receiver() as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        (row,) = deliveries(database_url)
        async with open_resources(settings) as resources:
            slow: Any = await _claim(resources)
            # Its lease runs out and another attempt claims the delivery.
            _sql(database_url, "UPDATE notification_deliveries SET lease_until = now()")
            again: Any = await _claim(resources)
            assert again is not None
            assert again.delivery.id == row["id"]
            # The slow attempt's failures, temporary or permanent, say nothing.
            for failure in (TemporaryFailure("HTTP 503"), PermanentFailure("HTTP 404")):
                assert await record(resources, slow, failure) == ("lease_lost", None)
            current = deliveries(database_url)[0]
            assert (current["status"], current["attempts"]) == ("sending", 2)
            assert current["last_error"] is None
            # The current attempt's outcome is recorded.
            assert await record(resources, again, PermanentFailure("HTTP 404")) == ("dead", None)
        dead = deliveries(database_url)[0]
        assert (dead["status"], dead["last_error"]) == ("dead", "HTTP 404")
