"""The delivery rows are the queue (a transactional outbox) and the worker's sender drains
them: a change writes its rows and no job, and wakes the senders at COMMIT only; senders
never send one delivery twice, take over a dead sender's deliveries once its lease ran out,
keep to their concurrency, hand back what they did not start when stopped, and survive the
loss of their LISTEN connection."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import psycopg
import structlog

from tests.api.conftest import on_closed_port
from tests.factories import auth_headers, open_ticket
from tests.notifications.conftest import deliveries, run_worker_until_idle
from tests.notifications.receivers import changed, deliver_jobs
from tests.notifications.retry_helpers import Receiver, Reply, eventually, free_port
from tests.notifications.test_fanout_rollback import commit_refused_for
from ticket_service.config import Settings
from ticket_service.notifications import repository
from ticket_service.notifications.models import Channel
from ticket_service.notifications.recipients import Target, url_key
from ticket_service.notifications.sender import Sender
from ticket_service.users.models import Role
from ticket_service.worker.resources import open_resources


@asynccontextmanager
async def listening(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("LISTEN ticket_deliveries")
        yield conn


async def heard(conn: psycopg.AsyncConnection[Any], within: float = 0.3) -> int:
    """How many NOTIFYs on ticket_deliveries arrived within `within` seconds."""
    return len([n async for n in conn.notifies(timeout=within)])


@asynccontextmanager
async def sender(
    settings: Settings, concurrency: int = 4, batch: int | None = None
) -> AsyncIterator[tuple[Sender, asyncio.Task[None], asyncio.Event]]:
    """A sender loop running in this process, listening before the block starts."""
    stopping = asyncio.Event()
    async with open_resources(settings) as resources:
        loop = Sender(resources, concurrency, batch)
        task = asyncio.create_task(loop.run(stopping))
        await asyncio.wait_for(loop.listening.wait(), 10)
        try:
            yield loop, task, stopping
        finally:
            stopping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Counting(Receiver):
    """A receiver that holds each request `hold` seconds and counts how many it held at
    once."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.active = 0
        self.most = 0
        self._count = threading.Lock()
        super().__init__(on_hit=self._arrived)

    def _arrived(self) -> None:
        with self._count:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(self.hold)
        with self._count:
            self.active -= 1


async def test_a_change_writes_its_deliveries_and_no_job_and_wakes_at_commit(build, database_url):
    with Receiver() as receiver:
        app, client, _settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        author = await auth_headers(app, "200", Role.employee)
        async with listening(database_url) as ear:
            # A change that fails at COMMIT wrote its rows and its NOTIFY: nobody hears it.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            with commit_refused_for(database_url, "opened"):
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as raw:
                    failed = await raw.post("/api/v1/tickets", json={"text": "x"}, headers=author)
            assert failed.status_code == 500
            assert await heard(ear) == 0
            await open_ticket(client, author)
            assert await heard(ear) == 1  # one per transaction, at its COMMIT

            (row,) = deliveries(database_url)
            assert (row["status"], row["attempts"]) == ("pending", 0)
            assert deliver_jobs(database_url) == []

            # In an open transaction: nothing is heard before COMMIT, nor after a rollback.
            more = [Target(Channel.webhook, url_key(receiver.url + "?n"))]
            for finish in ("rollback", "commit"):
                async with app.state.sessionmaker() as session:
                    await session.begin()
                    await repository.insert_deliveries(session, row["event_id"], more)
                    assert await heard(ear) == 0
                    await getattr(session, finish)()
                assert await heard(ear) == (1 if finish == "commit" else 0), finish
        assert len(deliveries(database_url)) == 2


async def test_two_senders_woken_together_never_send_one_delivery_twice(build, database_url):
    with Receiver(default=Reply(delay=0.02)) as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        author = await auth_headers(app, "200", Role.employee)
        async with sender(settings, concurrency=2, batch=2), sender(settings, 2, batch=2):
            for _ in range(12):
                await open_ticket(client, author)
            await eventually(
                lambda: all(d["status"] == "sent" for d in deliveries(database_url)),
                what="every delivery sent",
            )

    rows = deliveries(database_url)
    assert len(rows) == 12
    assert all(r["attempts"] == 1 for r in rows)
    assert len(receiver.hits) == 12
    assert len(set(receiver.event_ids())) == 12


async def test_a_dead_senders_delivery_is_sent_again_once_its_lease_ran_out(build, database_url):
    with Receiver([Reply(delay=3)]) as receiver:
        app, client, settings = await build(
            webhook_urls=[receiver.url],
            webhook_secret="s",
            notify_timeout_seconds=1,
            notify_lease_seconds=2,
        )
        async with sender(settings) as (_, task, _):
            await open_ticket(client, await auth_headers(app, "200", Role.employee))
            await eventually(lambda: receiver.hits, what="the first request")
            task.cancel()  # the sender dies mid-send: nothing is recorded
            with contextlib.suppress(asyncio.CancelledError):
                await task
        (left,) = deliveries(database_url)
        assert (left["status"], left["attempts"]) == ("sending", 1)

        await run_worker_until_idle(settings)  # another sender

    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(receiver.hits) == 2
    assert receiver.hits[1].at >= left["lease_until"].timestamp() - 0.05
    assert receiver.event_ids()[0] == receiver.event_ids()[1]  # same event id every attempt


async def test_a_batch_bigger_than_the_concurrency_sends_that_many_at_once(build, database_url):
    with Counting(hold=0.3) as receiver:
        # 4 sends in flight; a claim takes up to 4 x (30 - 5) // 1 = 100 deliveries.
        app, client, settings = await build(
            webhook_urls=[receiver.url],
            webhook_secret="s",
            notify_timeout_seconds=1,
            notify_lease_seconds=30,
        )
        author = await auth_headers(app, "200", Role.employee)
        for _ in range(10):
            await open_ticket(client, author)
        receiver.on_hit = _also(receiver.on_hit, lambda: deliveries(database_url))
        await run_worker_until_idle(settings)

    assert receiver.most == 4
    # One claim leased all ten before the first was sent.
    assert [d["status"] for d in receiver.hits[0].seen] == ["sending"] * 10
    rows = deliveries(database_url)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 10


def _also(first: Any, then: Any) -> Any:
    def both() -> Any:
        seen = then()
        first()
        return seen

    return both


async def test_a_stopped_sender_finishes_its_send_and_hands_back_the_rest(build, database_url):
    with Receiver(default=Reply(delay=1)) as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        author = await auth_headers(app, "200", Role.employee)
        for _ in range(3):
            await open_ticket(client, author)
        async with sender(settings, concurrency=1, batch=3) as (_, task, stopping):
            await eventually(lambda: receiver.hits, what="the first request")
            assert [d["status"] for d in deliveries(database_url)] == ["sending"] * 3
            stopping.set()  # SIGTERM
            await asyncio.wait_for(task, 10)

        assert len(receiver.hits) == 1
        assert receiver.hits[0].answered
        rows = deliveries(database_url)
        assert [(r["status"], r["attempts"]) for r in rows] == [
            ("sent", 1),
            ("pending", 0),
            ("pending", 0),
        ]
        assert all(r["lease_token"] is None for r in rows)

        await run_worker_until_idle(settings)  # the next sender takes them at once
    assert [r["status"] for r in deliveries(database_url)] == ["sent"] * 3
    assert len(receiver.hits) == 3


async def test_the_sender_listens_again_after_its_connection_was_dropped(build, database_url):
    with Receiver() as receiver:
        # A poll far beyond the test: only a NOTIFY wakes the sender in time.
        app, client, settings = await build(
            webhook_urls=[receiver.url], webhook_secret="s", notify_poll_seconds=60
        )
        author = await auth_headers(app, "200", Role.employee)
        async with sender(settings) as (loop, task, _):
            dropped = loop.listen_pid
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (dropped,))
            await eventually(
                lambda: loop.listening.is_set() and loop.listen_pid != dropped,
                what="listening again",
            )
            await open_ticket(client, author)
            await eventually(
                lambda: [d["status"] for d in deliveries(database_url)] == ["sent"],
                what="the delivery sent on the NOTIFY",
            )
            assert not task.done()
    assert len(receiver.hits) == 1


async def test_a_sender_without_its_database_keeps_trying_and_stops_cleanly(build, database_url):
    _, _, settings = await build()
    gone = settings.model_copy(
        update={"database_url": on_closed_port(database_url, free_port()), "db_pool_size": 1}
    )
    stopping = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        async with open_resources(gone) as resources:
            loop = Sender(resources, 2)
            task = asyncio.create_task(loop.run(stopping))
            await eventually(
                lambda: (
                    {"delivery_claim_failed", "delivery_listen_failed"}
                    <= {e["event"] for e in logs}
                ),
                what="a failed claim and a failed LISTEN",
            )
            assert not task.done()  # neither ended the sender
            stopping.set()
            await asyncio.wait_for(task, 10)
    assert not loop.listening.is_set()


@contextmanager
def recording_refused(database_url: str) -> Iterator[None]:
    """PostgreSQL refuses to mark a delivery sent (as when the database goes away between
    the receiver's answer and the UPDATE that records it)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION test_refuse_sent() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'recording refused by the test'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER test_refuse_sent BEFORE UPDATE ON notification_deliveries"
            " FOR EACH ROW WHEN (NEW.status = 'sent') EXECUTE FUNCTION test_refuse_sent()"
        )
        try:
            yield
        finally:
            conn.execute("DROP TRIGGER test_refuse_sent ON notification_deliveries")
            conn.execute("DROP FUNCTION test_refuse_sent()")


async def test_a_send_that_could_not_be_recorded_is_sent_again_after_its_lease(build, database_url):
    with Receiver() as receiver:
        app, client, settings = await build(
            webhook_urls=[receiver.url],
            webhook_secret="s",
            notify_timeout_seconds=1,
            notify_lease_seconds=2,
        )
        await open_ticket(client, await auth_headers(app, "200", Role.employee))
        with recording_refused(database_url), structlog.testing.capture_logs() as logs:
            async with sender(settings):
                await eventually(
                    lambda: any(e["event"] == "delivery_not_recorded" for e in logs),
                    what="the refused record",
                )
        (left,) = deliveries(database_url)
        assert (left["status"], left["attempts"]) == ("sending", 1)  # the lease is all left

        await run_worker_until_idle(settings)

    (row,) = deliveries(database_url)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    # At least once: the receiver got it twice, under one event id.
    assert len(receiver.hits) == 2
    assert receiver.event_ids()[0] == receiver.event_ids()[1]


async def test_one_tickets_changes_reach_a_receiver_in_their_order(build, database_url):
    # Four events of one ticket claimed together: the first is answered slowly, yet the
    # receiver hears them in the order they happened (other tickets' go alongside).
    with Receiver(replies=[Reply(delay=0.5)]) as receiver:
        app, client, settings = await build(webhook_urls=[receiver.url], webhook_secret="s")
        author = await auth_headers(app, "200", Role.employee)
        agent = await auth_headers(app, "300", Role.admin)
        guid = (await open_ticket(client, author))["guid_ticket"]
        await changed(client, agent, guid, "processing")
        await changed(client, agent, guid, "closed_success")
        await run_worker_until_idle(settings)

    rows = deliveries(database_url)
    # opened, assigned (taking it into work), processing, closed
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * 4
    heard_ids = [hit.headers["X-Ticket-Event-Id"] for hit in receiver.hits]
    assert heard_ids == [str(r["event_id"]) for r in rows]
    # The second was sent once the first was answered, not alongside it.
    assert receiver.hits[1].at - receiver.hits[0].at >= 0.5
