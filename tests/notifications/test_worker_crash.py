"""The real worker process, killed or stopped while a delivery is in flight; and a dead
worker's procrastinate job (the periodic and other jobs still are procrastinate's).

Receivers are real HTTP servers on 127.0.0.1 that hold the request open; the worker is
`python -m ticket_service.cli worker`, configured through its environment with a short
heartbeat so that a dead worker is noticed in about a second.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

import psycopg
import pytest

from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries
from tests.notifications.retry_helpers import (
    Receiver,
    Reply,
    delivery_jobs,
    eventually,
    start_worker,
    stop_all,
)
from tests.worker import run_until_idle
from ticket_service.notifications.recipients import url_key
from ticket_service.users.models import Role
from ticket_service.worker.app import open_jobs
from ticket_service.worker.stalled import retry_stalled

FAST_STALL = {
    "WORKER_HEARTBEAT_SECONDS": "0.2",
    "WORKER_STALLED_AFTER_SECONDS": "1",
    "WORKER_STALLED_CHECK_SECONDS": "0.5",
}


@pytest.fixture
def workers() -> Any:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    stop_all(processes)


def _by_receiver(database_url: str, receiver: Receiver) -> dict[str, Any]:
    (row,) = [d for d in deliveries(database_url) if d["recipient"] == url_key(receiver.url)]
    return row


async def test_killed_workers_delivery_is_sent_by_the_next_one(
    build, database_url, tmp_path, workers
):
    log = tmp_path / "worker.log"
    slow = Receiver([Reply(200, delay=3)])  # holds the first request open for 3 s
    fast = Receiver()
    try:
        app, client, settings = await build(
            webhook_urls=[slow.url, fast.url],
            webhook_secret="s3cret",
            # A short lease, so that the dead worker's one runs out within the test.
            notify_timeout_seconds=4,
            notify_lease_seconds=5,
        )
        workers.append(first := start_worker(settings, tmp_path, log, **FAST_STALL))
        await open_ticket(client, await auth_headers(app, "200", Role.employee))

        # Generous timeouts: they only wait for a Python process to start on a busy machine.
        await eventually(lambda: slow.hits, within=30, what="the slow receiver's request")
        await eventually(
            lambda: _by_receiver(database_url, fast)["status"] == "sent", what="fast sent"
        )
        first.send_signal(signal.SIGKILL)  # while the slow request is still in flight
        killed_at = time.time()
        assert first.wait(timeout=10) == -signal.SIGKILL
        # The killed worker had claimed the delivery (committed) and never recorded an
        # outcome: its lease is all that is left of it.
        left = _by_receiver(database_url, slow)
        assert (left["status"], left["attempts"]) == ("sending", 1)
        assert left["lease_until"] is not None
        assert left["lease_token"] is not None

        workers.append(second := start_worker(settings, tmp_path, log, **FAST_STALL))
        await eventually(
            lambda: _by_receiver(database_url, slow)["status"] == "sent",
            within=30,
            what=f"the stalled delivery sent by the next worker; log: {log}",
        )
        row = _by_receiver(database_url, slow)
        # One more attempt, and only after the dead worker's lease had run out.
        assert row["attempts"] == 2
        assert slow.hits[1].at >= left["lease_until"].timestamp() - 0.05
        assert slow.hits[1].at - killed_at < 5 + 15
        assert row["lease_until"] is None
        assert row["lease_token"] is None
        assert _by_receiver(database_url, fast)["attempts"] == 1

        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=15) == 0, log.read_text()[-3000:]
    finally:
        slow.close()
        fast.close()

    # The killed attempt's request did arrive (we waited for it before the kill), so the
    # slow receiver saw two copies; they carry the same de-duplication key, and a
    # receiver de-duplicating on X-Ticket-Event-Id accepted exactly one event.
    assert len(slow.hits) == 2
    assert slow.hits[1].answered
    assert slow.event_ids()[0] == slow.event_ids()[1]
    assert len(slow.accepted_events()) == 1
    # The delivery that had finished before the crash was not sent again.
    assert len(fast.hits) == 1
    assert fast.accepted_events() == slow.accepted_events()
    assert delivery_jobs(database_url) == []  # the rows are the queue: no job per delivery


async def test_sigterm_lets_the_send_in_flight_finish(build, database_url, tmp_path, workers):
    log = tmp_path / "worker.log"
    with Receiver([Reply(200, delay=2)]) as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        workers.append(worker := start_worker(settings, tmp_path, log))
        await open_ticket(client, await auth_headers(app, "200", Role.employee))

        await eventually(lambda: receiver.hits, within=30, what="the receiver's request")
        worker.send_signal(signal.SIGTERM)  # while the request is held open
        stopping = time.time()
        code = await eventually(
            lambda: worker.poll() is not None and [worker.returncode], within=30
        )
        exited = time.time()

    assert code == [0], log.read_text()[-3000:]
    (hit,) = receiver.hits
    assert stopping - hit.at < 1.5  # the signal came while the request was held open
    assert hit.answered  # the worker was still there to read the answer
    assert exited - hit.at >= 1.95  # it exited only after the receiver answered
    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    assert delivery_jobs(database_url) == []


async def test_two_workers_starting_together_retry_a_stalled_job_once(build, database_url):
    """Replacement workers race for a dead worker's job: it goes back to the queue once."""
    _app, _client, settings = await build()
    async with open_jobs(settings) as jobs:
        queued = await jobs.configure_task("prune_deliveries").defer_async(timestamp=0)
        # A worker takes the job and dies: registered, job fetched, heartbeat long gone.
        dead = await jobs.job_manager.register_worker()
        job = await jobs.job_manager.fetch_job(queues=None, worker_id=dead)
        assert job is not None
        assert job.id == queued
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
                " WHERE id = %s",
                (dead,),
            )
        counts = await asyncio.gather(retry_stalled(jobs, 30), retry_stalled(jobs, 30))
        assert sorted(counts) == [0, 1]
        assert await retry_stalled(jobs, 30) == 0  # back in the queue: no longer stalled
    await run_until_idle(settings, "prune_deliveries")

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT status, attempts FROM procrastinate_jobs WHERE id = %s", (queued,)
        ).fetchone()
    assert row == ("succeeded", 2)  # the dead worker's attempt, then one run after one retry
