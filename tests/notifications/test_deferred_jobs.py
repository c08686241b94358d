"""A delivery's job is written by the statement that writes the delivery row (one round trip
in the change's transaction): it must be the job procrastinate itself would have queued."""

from __future__ import annotations

import psycopg

from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.retry_helpers import Receiver
from ticket_service.notifications.tasks import deliver
from ticket_service.users.models import Role
from ticket_service.worker.app import open_jobs

COLUMNS = "task_name, queue_name, priority, lock, queueing_lock, status, scheduled_at, args"


def _jobs(database_url: str) -> list[dict]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(f"SELECT {COLUMNS} FROM procrastinate_jobs ORDER BY id").fetchall()  # noqa: S608


async def test_a_deliverys_job_is_the_one_procrastinate_would_queue(build, database_url):
    with Receiver([]) as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s3cret")
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        (row,) = deliveries(database_url)
        (ours,) = _jobs(database_url)
        async with open_jobs(settings):
            await deliver.defer_async(delivery_id=row["id"])  # procrastinate's own way
        _, theirs = _jobs(database_url)
        assert ours == theirs
        assert (ours["task_name"], ours["queue_name"], ours["args"]) == (
            "deliver",
            "notifications",
            {"delivery_id": row["id"]},
        )

        await run_worker_until_idle(settings)
    # Run by the worker like any job: one copy reached the receiver, the second job found
    # the delivery sent.
    assert len(receiver.hits) == 1
    assert deliveries(database_url)[0]["status"] == "sent"
