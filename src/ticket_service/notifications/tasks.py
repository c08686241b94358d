"""One attempt at one delivery (claimed by a sender, notifications/sender.py): render, send,
record the outcome; and the housekeeping jobs around deliveries."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import procrastinate
import structlog
from sqlalchemy import delete

from ticket_service.catalog.models import Service
from ticket_service.config import Settings
from ticket_service.events.registry import Kind
from ticket_service.kit.outbound import OutboundRefused, OutboundUnresolvable
from ticket_service.notifications import repository
from ticket_service.notifications.channels import (
    DeliveryFailure,
    PermanentFailure,
    TemporaryFailure,
    discord,
    email,
    slack,
    webhook,
)
from ticket_service.notifications.messages import EventView, Message, for_author, render
from ticket_service.notifications.models import Channel, Delivery, DeliveryStatus
from ticket_service.notifications.recipients import SERVICE_PREFIX, Target, webhook_url
from ticket_service.ops.metrics import NOTIFICATION_ATTEMPTS
from ticket_service.vocabulary import Status
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import Resources, resources_of
from ticket_service.worker.stalled import retry_stalled

log = structlog.get_logger(__name__)
MAX_BACKOFF_SECONDS = 6 * 3600


def backoff_seconds(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: about base·2^(attempt-1), never in lockstep."""
    delay: float = min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not cryptography


def _view(settings: Settings, story: repository.Story) -> EventView:
    """What the message shows, as read by the claim: for a comment its text (as last
    edited), for an assignment whom it went to, for a rating its stars."""
    text = story.text
    base_url = settings.public_url.rstrip("/")
    rate_link = None
    closed_it = story.kind == Kind.status_changed and Status(story.to_status or "open").is_closed
    if story.kind == Kind.rated and story.rated:
        text = "★" * (story.rating_score or 0) + "☆" * (5 - (story.rating_score or 0))
        text += f"\n{story.rating_comment}" if story.rating_comment else ""
    elif closed_it and not story.rated and Status(story.status).is_closed:
        rate_link = f"{base_url}/tickets/{story.ticket_id}"
    comment = story.comment_id is not None
    return EventView(
        event_id=story.event_id,
        kind=story.kind,
        occurred_at=story.occurred_at,
        guid_ticket=str(story.ticket_id),
        number=story.number,
        title=story.title,
        text=story.comment_body or "" if comment else text,
        status=story.status,
        priority=story.priority,
        service=story.service_name,
        author=story.author,
        actor=story.actor,
        actor_name=story.actor_name,
        from_status=story.from_status,
        to_status=story.to_status,
        link=f"{base_url}/api/v1/tickets/{story.ticket_id}",
        comment_id=story.comment_id,
        internal=story.comment_internal if comment else False,
        assignee=story.assignee,
        assigned_to=story.assigned_to,
        assigned_to_name=story.assigned_to_name,
        author_email=story.author_email,
        rate_link=rate_link,
        target=story.data.get("target"),
    )


def _refusal(exc: OutboundRefused) -> DeliveryFailure:
    if isinstance(exc, OutboundUnresolvable):
        return TemporaryFailure(f"refused: {exc}")  # DNS may answer again later
    return PermanentFailure(f"refused: {exc}")


async def _checked(settings: Settings, url: str) -> str:
    """The URL, if it may still be called now (DNS may have changed since it was set).
    The connection itself is pinned to the addresses it allows (pinned_transport)."""
    try:
        await settings.outbound_policy.check(url)
    except OutboundRefused as exc:
        raise _refusal(exc) from exc
    return url


async def _service(resources: Resources, service_id: int) -> Service:
    """The ticket's service, for its own Slack / Discord webhook URL (stored encrypted)."""
    async with resources.sessionmaker() as session:
        found = await session.get(Service, service_id)
    if found is None:  # pragma: no cover - a service with tickets is never deleted
        raise PermanentFailure(f"service {service_id} no longer exists")
    return found


async def _send(
    resources: Resources, delivery: repository.Lease, message: Message, service_id: int
) -> None:
    settings, http = resources.settings, resources.http
    target = Target(Channel(delivery.channel), delivery.recipient)
    if target.channel is Channel.email:
        await email.send(settings, target.recipient, message, delivery.id)
    elif target.channel is Channel.discord_dm:
        if not settings.discord_bot_token:
            raise PermanentFailure("DISCORD_BOT_TOKEN is no longer configured")
        await discord.send_dm(
            http,
            await _checked(settings, settings.discord_api_base_url),
            settings.discord_bot_token.get_secret_value(),
            target.recipient,
            message,
        )
    else:
        # Only a service's own channel needs the service row: read it then, not per delivery.
        service = (
            await _service(resources, service_id)
            if target.recipient.startswith(SERVICE_PREFIX)
            else None
        )
        url = await _checked(settings, webhook_url(settings, service, target))
        if target.channel is Channel.slack:
            await slack.send(http, url, message)
        elif target.channel is Channel.discord_webhook:
            await discord.send_webhook(http, url, message)
        else:
            await webhook.send(http, url, settings.webhook_secret.get_secret_value(), message)


@dataclass(frozen=True)
class Claimed:
    """A delivery a sender leased, what its message shows, and by when (time.monotonic) its
    outcome must be recorded: its lease, less the margin to record it."""

    delivery: repository.Lease
    view: EventView
    service_id: int
    deadline: float


def claimed(
    settings: Settings, lease: repository.Lease, story: repository.Story, at: float
) -> Claimed:
    """A claim's row as an attempt to make; `at`: time.monotonic() before the claim began."""
    deadline = at + settings.notify_lease_seconds - lease_margin(settings)
    return Claimed(lease, _view(settings, story), story.service_id, deadline)


async def attempt(resources: Resources, claimed: Claimed) -> DeliveryFailure | None:
    """Send, with no transaction open; the outcome, bounded by the lease."""
    settings = resources.settings
    budget = max(0.0, claimed.deadline - time.monotonic())
    try:
        try:
            delivery = claimed.delivery
            message = render(
                claimed.view,
                delivery.locale or settings.notify_locale,
                to_author=for_author(claimed.view, delivery.channel, delivery.recipient),
            )
            async with asyncio.timeout(budget):
                await _send(resources, claimed.delivery, message, claimed.service_id)
        except DeliveryFailure:
            raise
        except OutboundRefused as exc:  # at connect time: the name now resolves inside
            raise _refusal(exc) from exc
        except TimeoutError as exc:
            raise TemporaryFailure(f"no answer within {budget:g} s (the lease)") from exc
        except Exception as exc:
            # A bug of ours (rendering, a header): record it where admins look, retry
            # like any failure, and end dead rather than retry silently forever.
            log.exception("delivery_error", delivery_id=claimed.delivery.id)
            raise TemporaryFailure(f"internal error: {type(exc).__name__}") from exc
    except DeliveryFailure as exc:
        return exc
    return None


def lease_margin(settings: Settings) -> float:
    # Leaves time to record the outcome before the lease can be claimed by a retry.
    return min(5.0, (settings.notify_lease_seconds - settings.notify_timeout_seconds) / 2)


Outcome = tuple[str, datetime | None]  # sent, dead, failed (and when to retry), lease_lost


async def record(
    resources: Resources, claimed: Claimed, failure: DeliveryFailure | None
) -> Outcome:
    """One autocommit UPDATE: the outcome, only while the lease is still ours."""
    settings = resources.settings
    lease = claimed.delivery
    now = datetime.now(UTC)
    if failure is None:
        async with resources.autocommit.connect() as connection:
            recorded = await repository.mark_sent(connection, lease, now)
        return was_sent(lease, recorded)
    error = str(failure)[:1000]
    # The lease holder alone changes `attempts`: the count the claim read is still true.
    exhausted = lease.attempts >= settings.notify_max_attempts
    if isinstance(failure, PermanentFailure) or exhausted:
        async with resources.autocommit.connect() as connection:
            recorded = await repository.mark_not_sent(
                connection, lease, DeliveryStatus.dead, error, None
            )
        if not recorded:
            return _lease_lost(lease)
        log.warning(
            "delivery_dead",
            delivery_id=lease.id,
            channel=lease.channel,
            attempts=lease.attempts,
            error=error,
        )
        NOTIFICATION_ATTEMPTS.labels(lease.channel, "dead").inc()
        return "dead", None
    wait = backoff_seconds(settings.notify_retry_base_seconds, lease.attempts)
    if isinstance(failure, TemporaryFailure) and failure.retry_after is not None:
        wait = max(wait, failure.retry_after)  # the receiver asked us to wait this long
    retry_at = now + timedelta(seconds=wait)
    async with resources.autocommit.connect() as connection:
        recorded = await repository.mark_not_sent(
            connection, lease, DeliveryStatus.failed, error, retry_at
        )
    if not recorded:
        return _lease_lost(lease)
    NOTIFICATION_ATTEMPTS.labels(lease.channel, "failed").inc()
    log.info(
        "delivery_failed",
        delivery_id=lease.id,
        channel=lease.channel,
        attempts=lease.attempts,
        retry_in=round(wait, 3),
        error=error,
    )
    return "failed", retry_at


def was_sent(lease: repository.Lease, recorded: bool) -> Outcome:
    """The outcome of a send that succeeded, once its recording was tried."""
    if not recorded:
        return _lease_lost(lease)
    log.info("delivery_sent", delivery_id=lease.id, channel=lease.channel)
    NOTIFICATION_ATTEMPTS.labels(lease.channel, "sent").inc()
    return "sent", None


def _lease_lost(lease: repository.Lease) -> Outcome:
    # Our lease expired and a retry claimed it (or the row is gone): that attempt records
    # the outcome; two copies carry the same event id.
    log.warning("delivery_lease_lost", delivery_id=lease.id)
    return "lease_lost", None


@jobs.periodic(cron="*/5 * * * *", periodic_id="retry_stalled_jobs")
@jobs.task(name="retry_stalled_jobs", queueing_lock="retry_stalled_jobs", pass_context=True)
async def retry_stalled_jobs(context: procrastinate.JobContext, timestamp: int) -> int:
    """Jobs of a worker that died (SIGKILL, lost machine) go back to the queue. Each worker
    also does this at start-up and every WORKER_STALLED_CHECK_SECONDS (worker/stalled.py);
    this cluster-wide run is the backstop."""
    settings = resources_of(context).settings
    return await retry_stalled(context.app, settings.worker_stalled_after_seconds)


@jobs.periodic(cron="41 3 * * *", periodic_id="prune_deliveries")
@jobs.task(name="prune_deliveries", queueing_lock="prune_deliveries", pass_context=True)
async def prune_deliveries(context: procrastinate.JobContext, timestamp: int) -> int:
    """Daily: forget sent deliveries older than NOTIFY_KEEP_SENT_DAYS."""
    resources = resources_of(context)
    cutoff = datetime.now(UTC) - timedelta(days=resources.settings.notify_keep_sent_days)
    async with resources.sessionmaker() as session, session.begin():
        result = await session.execute(
            delete(Delivery).where(
                Delivery.status == DeliveryStatus.sent.value, Delivery.sent_at < cutoff
            )
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
