"""The sender: drains the delivery rows (a transactional outbox) in batches.

A change writes its delivery rows and wakes the senders with a NOTIFY on `ticket_deliveries`
in the same statement (repository.insert_deliveries); no procrastinate job per delivery.
Each `ticket-service worker` runs one sender next to procrastinate's job loop:

- one autocommit statement leases up to `batch` due deliveries (SKIP LOCKED: senders
  claiming at once get different rows) and reads what their messages show;
- at most `concurrency` are sent at once; each outcome is recorded under the delivery's own
  lease token (tasks.py: the same rules as one attempt always had). Sent ones are recorded
  together: one UPDATE for all that were sent while the previous one ran (a group commit);
  a failure is one UPDATE of its own, as it always was;
- then it loops at once while a claim came back full, else sleeps until a NOTIFY, the next
  retry it recorded itself, or NOTIFY_POLL_SECONDS (retries recorded by other senders,
  leases of a sender that died);
- the LISTEN connection is opened again after any error (a PostgreSQL restart), and every
  reconnection is followed by a claim (what was committed meanwhile);
- asked to stop, it claims no more, hands back what it claimed and did not start, and waits
  for the sends in flight (bounded by their lease) to be recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import time
from datetime import UTC, datetime

import psycopg
import structlog
from opentelemetry import trace

from ticket_service.notifications import repository
from ticket_service.notifications.tasks import (
    Claimed,
    attempt,
    claimed,
    lease_margin,
    record,
    was_sent,
)
from ticket_service.worker.metrics import JOB_DURATION, JOB_RUNS
from ticket_service.worker.resources import Resources

log = structlog.get_logger(__name__)

# The sends counted in the worker's job metrics under this name (what the `deliver` job was).
TASK = "deliver"
# How the outcome of one attempt is counted there.
_RUN_OUTCOME = {"sent": "succeeded", "dead": "succeeded", "failed": "retried"}
# After the LISTEN connection failed, before it is opened again.
RELISTEN_SECONDS = 1.0
# Sent deliveries wait at most this long for others to be recorded with them while sends
# are still in flight (one UPDATE for several): a crash in that moment sends them again.
RECORD_LINGER_SECONDS = 0.02
# A retry is claimed this long after its recorded time: the database's clock decides.
_SLACK_SECONDS = 0.01


def batch_size(resources: Resources, concurrency: int) -> int:
    """As many deliveries as `concurrency` sends can make within one lease even if each
    takes the whole NOTIFY_TIMEOUT_SECONDS: a claimed delivery waiting for its turn is not
    left to the lease's end."""
    settings = resources.settings
    rounds = (settings.notify_lease_seconds - lease_margin(settings)) // (
        settings.notify_timeout_seconds
    )
    return concurrency * max(1, int(rounds))


class Sender:
    """One sender loop: `run(stopping)` until `stopping` is set (or, `until_idle`, until a
    claim finds nothing due and nothing is in flight)."""

    def __init__(self, resources: Resources, concurrency: int, batch: int | None = None) -> None:
        self.resources = resources
        self.concurrency = concurrency
        self.batch = batch or batch_size(resources, concurrency)
        self.listening = asyncio.Event()  # set while LISTEN is in place (tests wait on it)
        self.listen_pid: int | None = None  # the LISTEN connection's backend
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._retries: list[float] = []  # heap: time.monotonic() of retries we recorded
        # Sent, waiting to be recorded by the next group UPDATE, and who waits for it.
        self._sent: list[tuple[Claimed, datetime, asyncio.Future[bool]]] = []
        self._recording: asyncio.Task[None] | None = None
        self._in_flight = 0  # sends started and not yet finished
        # The last send started per recipient and ticket: the next one of the same waits
        # for it, so one person (or hook) hears of a ticket's changes in their order.
        self._last_send: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._group_ready = asyncio.Event()  # no send in flight, or a full group waits

    async def run(self, stopping: asyncio.Event, until_idle: bool = False) -> None:
        listener = asyncio.create_task(self._listen(), name="delivery listener")
        try:
            async with asyncio.TaskGroup() as sends:
                while not stopping.is_set():
                    self._wake.clear()  # a NOTIFY from now on is seen after this claim
                    try:
                        claimed = await self._claim_and_start(sends, stopping)
                    except Exception:  # a bug of ours must not stop the sending for good
                        log.exception("delivery_sender_error")
                        claimed = 0
                    if until_idle and not claimed and not self._in_flight and not self._sent:
                        break
                    if claimed < self.batch:
                        await self._sleep(stopping)
            # Leaving the group waited for the sends in flight.
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _claim_and_start(self, sends: asyncio.TaskGroup, stopping: asyncio.Event) -> int:
        """Claim a batch and start its sends as slots free up; how many it claimed (0 when
        the claim failed or the rest was handed back: look again after a sleep)."""
        settings = self.resources.settings
        at = time.monotonic()
        try:
            async with self.resources.autocommit.connect() as connection:
                rows = await repository.claim_due(
                    connection, self.batch, settings.notify_lease_seconds
                )
        except Exception as exc:  # PostgreSQL restarting: the next claim tries again
            log.warning("delivery_claim_failed", error=str(exc) or type(exc).__name__)
            return 0
        todo = [claimed(settings, lease, story, at) for lease, story in rows]
        for n, one in enumerate(todo):
            await self._slots.acquire()
            # Its turn came too late for a whole NOTIFY_TIMEOUT_SECONDS within its lease.
            late = time.monotonic() >= one.deadline - settings.notify_timeout_seconds
            if stopping.is_set() or late:
                self._slots.release()
                await self._hand_back(todo[n:])
                return 0
            self._in_flight += 1
            key = (one.delivery.channel, one.delivery.recipient, one.view.guid_ticket)
            task = sends.create_task(self._send(one, after=self._last_send.get(key)))
            self._last_send[key] = task
            task.add_done_callback(functools.partial(self._forget_send, key))
        return len(rows)

    def _forget_send(self, key: tuple[str, str, str], done: asyncio.Task[None]) -> None:
        if self._last_send.get(key) is done:
            del self._last_send[key]

    async def _send(self, one: Claimed, after: asyncio.Task[None] | None = None) -> None:
        """One attempt, recorded, once `after` (the previous send of the same recipient
        and ticket) has finished; never raises (it would cancel its siblings)."""
        if after is not None:
            await asyncio.wait([after])
            settings = self.resources.settings
            if time.monotonic() >= one.deadline - settings.notify_timeout_seconds:
                # Its turn came too late for a whole attempt within its lease.
                self._not_in_flight()
                self._slots.release()
                await self._hand_back([one])
                return
        started = time.perf_counter()
        delivery = one.delivery
        released = False
        try:
            tracer = trace.get_tracer(__name__)
            with tracer.start_as_current_span(
                f"job {TASK}",
                kind=trace.SpanKind.CONSUMER,
                attributes={"delivery.id": delivery.id, "delivery.channel": delivery.channel},
            ):
                try:
                    failure = await attempt(self.resources, one)
                finally:
                    self._not_in_flight()
                if failure is None:
                    # The next send may start while this one is being recorded.
                    self._slots.release()
                    released = True
                    outcome, retry_at = was_sent(delivery, await self._record_sent(one))
                else:
                    outcome, retry_at = await record(self.resources, one, failure)
        except Exception as exc:
            # Not recorded (the database went away): the lease expires and a sender
            # claims it again; the receiver may get a second copy with the same event id.
            log.warning(
                "delivery_not_recorded", delivery_id=delivery.id, error=str(exc) or repr(exc)
            )
            outcome, retry_at = "error", None
        finally:
            if not released:
                self._slots.release()
        JOB_RUNS.labels(TASK, _RUN_OUTCOME.get(outcome, "failed")).inc()
        JOB_DURATION.labels(TASK).observe(time.perf_counter() - started)
        if retry_at is not None:
            wait = (retry_at - datetime.now(UTC)).total_seconds()
            heapq.heappush(self._retries, time.monotonic() + wait + _SLACK_SECONDS)

    def _not_in_flight(self) -> None:
        self._in_flight -= 1
        if not self._in_flight:
            self._group_ready.set()  # no send left to wait for in the group UPDATE

    async def _record_sent(self, one: Claimed) -> bool:
        """Whether `one` was recorded as sent (False: its lease was lost), by the next
        group UPDATE."""
        recorded = asyncio.get_running_loop().create_future()
        self._sent.append((one, datetime.now(UTC), recorded))
        if len(self._sent) >= self.batch:
            self._group_ready.set()
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record_all_sent())
        return bool(await recorded)

    async def _record_all_sent(self) -> None:
        """Record every send waiting to be, in one UPDATE, until none is left."""
        while self._sent:
            # While sends are in flight, give them a moment to join this UPDATE.
            self._group_ready.clear()
            if self._in_flight and len(self._sent) < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._group_ready.wait(), RECORD_LINGER_SECONDS)
            group, self._sent = self._sent, []
            try:
                async with self.resources.autocommit.connect() as connection:
                    recorded = await repository.mark_sent_many(
                        connection, [(one.delivery, at) for one, at, _ in group]
                    )
            except Exception as exc:
                for _, _, waiting in group:
                    waiting.set_exception(exc)
            else:
                for one, _, waiting in group:
                    waiting.set_result(one.delivery.id in recorded)

    async def _hand_back(self, todo: list[Claimed]) -> None:
        """Deliveries claimed and not attempted go back to the queue, due now."""
        try:
            async with self.resources.autocommit.connect() as connection:
                for one in todo:
                    await repository.hand_back(connection, one.delivery)
        except Exception as exc:  # their leases expire and they are claimed again
            log.warning("delivery_hand_back_failed", error=str(exc) or type(exc).__name__)
        log.info("deliveries_handed_back", count=len(todo))

    async def _sleep(self, stopping: asyncio.Event) -> None:
        """Until a NOTIFY, a retry we recorded is due, NOTIFY_POLL_SECONDS, or a stop."""
        now = time.monotonic()
        while self._retries and self._retries[0] <= now:
            heapq.heappop(self._retries)
        timeout = self.resources.settings.notify_poll_seconds
        if self._retries:
            timeout = min(timeout, self._retries[0] - now)
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _listen(self) -> None:
        """LISTEN on `ticket_deliveries` and wake the loop on each NOTIFY; a connection
        that fails (PostgreSQL restarting, the backend terminated) is opened again."""
        url = self.resources.settings.database_url or ""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, connect_timeout=5
                ) as connection:
                    await connection.execute(f"LISTEN {repository.WAKE_CHANNEL}")
                    self.listen_pid = connection.info.backend_pid
                    self.listening.set()
                    self._wake.set()  # what was committed while nobody listened
                    async for _ in connection.notifies():
                        self._wake.set()
            except Exception as exc:  # whatever it was: listen again
                log.warning("delivery_listen_failed", error=str(exc) or type(exc).__name__)
            self.listening.clear()
            self._wake.set()  # meanwhile the loop polls: claim now rather than a poll later
            await asyncio.sleep(RELISTEN_SECONDS)
