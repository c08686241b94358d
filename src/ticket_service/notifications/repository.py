from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ticket_service.assignment.models import Follower
from ticket_service.notifications.models import Delivery, DeliveryStatus
from ticket_service.notifications.recipients import Target
from ticket_service.tickets.models import TicketEvent
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import Status

# The statuses that close a ticket, as SQL (derived from the vocabulary).
_CLOSED = ", ".join(f"'{s.value}'" for s in Status if s.is_closed)


@dataclass(frozen=True)
class JobSpec:
    """Where and as what a `deliver` job is queued (the task's own settings)."""

    queue: str
    task: str
    priority: int


# A `deliver` job for the delivery whose id is `{id}`: procrastinate's own defer function,
# the one its `defer_async` calls (procrastinate/sql/queries.sql `defer_jobs`), so the
# jobs are procrastinate's in every way, written by the same statement as their rows.
_DEFER = (
    "procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, NULL, NULL,"
    " jsonb_build_object('delivery_id', {id}), NULL)::procrastinate_job_to_defer_v1])"
)
_INSERT_AND_DEFER = text(
    f"""
    WITH inserted AS (
        INSERT INTO notification_deliveries
            (event_id, channel, recipient, locale, status, attempts)
        SELECT :event_id, t.channel, t.recipient, t.locale, '{DeliveryStatus.pending.value}', 0
        FROM unnest(CAST(:channels AS text[]), CAST(:recipients AS text[]),
                    CAST(:locales AS text[])) AS t (channel, recipient, locale)
        ON CONFLICT (event_id, channel, recipient) DO NOTHING
        RETURNING id
    )
    SELECT id, {_DEFER.format(id="id")} FROM inserted
    """  # noqa: S608 - constants of this module, no input
)
_DEFER_ONE = text(f"SELECT {_DEFER.format(id='CAST(:delivery_id AS bigint)')}")


async def insert_deliveries(
    session: AsyncSession, event_id: int, targets: list[Target], job: JobSpec
) -> list[int]:
    """New pending deliveries and their jobs, in one statement of the current transaction;
    ones that already exist (same key) are left alone (and get no second job)."""
    if not targets:
        return []
    rows = await session.execute(
        _INSERT_AND_DEFER,
        {
            "event_id": event_id,
            "channels": [t.channel.value for t in targets],
            "recipients": [t.recipient for t in targets],
            "locales": [t.locale for t in targets],
            "queue": job.queue,
            "task": job.task,
            "priority": job.priority,
        },
    )
    return [row[0] for row in rows]


async def defer(session: AsyncSession, delivery_id: int, job: JobSpec) -> None:
    """Queue another `deliver` job for an existing delivery (an admin's replay)."""
    params = {"queue": job.queue, "task": job.task, "priority": job.priority}
    await session.execute(_DEFER_ONE, {"delivery_id": delivery_id, **params})


async def admins(session: AsyncSession) -> list[User]:
    stmt = select(User).where(User.role == Role.admin.value).order_by(User.id)
    return list((await session.scalars(stmt)).all())


async def followers_of(session: AsyncSession, ticket_id: uuid.UUID) -> list[User]:
    stmt = (
        select(User)
        .join(Follower, Follower.user_id == User.id)
        .where(Follower.ticket_id == ticket_id)
        .order_by(Follower.created_at)
    )
    return list((await session.scalars(stmt)).all())


async def locked_delivery(session: AsyncSession, delivery_id: int) -> Delivery | None:
    """Lock the row for the duration of one attempt: two jobs never send the same delivery."""
    stmt = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class Busy:
    """Another worker holds the delivery's lease until `until` (database clock)."""

    until: datetime


async def deliveries(
    session: AsyncSession, status: str | None, limit: int, before_id: int | None
) -> list[tuple[Delivery, uuid.UUID]]:
    """Newest first, with the ticket each one is about; limit + 1 rows tell about a next page."""
    stmt = (
        select(Delivery, TicketEvent.ticket_id)
        .join(TicketEvent, TicketEvent.id == Delivery.event_id)
        .order_by(Delivery.id.desc())
        .limit(limit + 1)
    )
    if status:
        stmt = stmt.where(Delivery.status == status)
    if before_id is not None:
        stmt = stmt.where(Delivery.id < before_id)
    return [(d, t) for d, t in (await session.execute(stmt)).all()]


# ---------------------------------------------------------------------------- the worker's
# The `deliver` job's hot path: plain SQL built once, run as single autocommit statements
# (no BEGIN/COMMIT pair), rows read as tuples: no ORM entity is built per delivery.

# Take the lease (claimable unless sent, dead, or under a lease that has not expired: a
# worker that died mid-send leaves one that does) and read, in the same statement,
# everything the message shows: the event, its ticket now, the people it names, the
# comment (as last edited) or the rating it is about.
_CLAIM_AND_READ = text(
    f"""WITH claimed AS (
        UPDATE notification_deliveries
        SET status = 'sending', attempts = attempts + 1,
            lease_until = now() + make_interval(secs => :lease),
            lease_token = :token, updated_at = now()
        WHERE id = :id AND status NOT IN ('sent', 'dead')
          AND (status <> 'sending' OR lease_until <= now())
        RETURNING id, event_id, channel, recipient, locale, attempts, lease_token
    )
    SELECT c.id, c.channel, c.recipient, c.locale, c.attempts, c.lease_token,
           e.id, e.kind, e.created_at, e.from_status, e.to_status, e.data,
           t.id, t.number, t.title, t.text, t.status, t.priority, t.service_id, s.name,
           au.discord_id, au.email, asg.discord_id,
           ac.discord_id, coalesce(nullif(ac.display_name, ''), ac.username),
           cm.id, cm.body, cm.internal,
           tg.discord_id, coalesce(nullif(tg.display_name, ''), tg.username),
           r.ticket_id IS NOT NULL, r.score, r.comment
    FROM claimed c
    JOIN ticket_events e ON e.id = c.event_id
    JOIN tickets t ON t.id = e.ticket_id
    JOIN services s ON s.id = t.service_id
    JOIN users au ON au.id = t.author_id
    LEFT JOIN users asg ON asg.id = t.assignee_id
    LEFT JOIN users ac ON ac.id = e.actor_id
    LEFT JOIN comments cm
        ON e.data ? 'comment_id' AND cm.id = (e.data ->> 'comment_id')::bigint
    LEFT JOIN users tg ON tg.discord_id = nullif(e.data ->> 'assignee', '')
    LEFT JOIN ticket_ratings r ON r.ticket_id = t.id
        AND (e.kind = 'rated' OR (e.kind = 'status_changed'
                                  AND e.to_status IN ({_CLOSED})))
    """  # noqa: S608
)

_STATE = text("SELECT status, lease_until FROM notification_deliveries WHERE id = :id")

_SENT = text(
    """UPDATE notification_deliveries
    SET status = 'sent', sent_at = :now, next_attempt_at = NULL,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    WHERE id = :id AND lease_token = :token
    RETURNING id
    """
)

_NOT_SENT = text(
    """UPDATE notification_deliveries
    SET status = :status, last_error = :error, next_attempt_at = :next_attempt_at,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    WHERE id = :id AND lease_token = :token
    RETURNING id
    """
)


@dataclass(frozen=True)
class Lease:
    """A delivery claimed for one attempt (what `_CLAIM_AND_READ` returned of it)."""

    id: int
    channel: str
    recipient: str
    locale: str | None
    attempts: int
    lease_token: uuid.UUID


@dataclass(frozen=True)
class Story:
    """The event a claimed delivery is about, as the message shows it: plain values."""

    event_id: int
    kind: str
    occurred_at: datetime
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]
    ticket_id: uuid.UUID
    number: int
    title: str
    text: str
    status: str
    priority: str
    service_id: int
    service_name: str
    author: str
    author_email: str | None
    assignee: str | None
    actor: str | None
    actor_name: str | None
    comment_id: int | None
    comment_body: str | None
    comment_internal: bool
    assigned_to: str | None
    assigned_to_name: str | None
    rated: bool  # read only for a closing or `rated` event; else always False
    rating_score: int | None
    rating_comment: str | None


async def claim_and_read(
    connection: AsyncConnection, delivery_id: int, lease_seconds: float
) -> tuple[Lease, Story] | DeliveryStatus | Busy | None:
    """Lease the delivery for one attempt: mark it `sending` with a new token, count the
    attempt; and read what its message shows. Claimable unless sent, dead, or under a
    lease that has not expired (a worker that died mid-send leaves one that does). On an
    autocommit connection: committed before sending, so no lock is held across the
    network. Anything else says why not (None: the row is gone)."""
    row = (
        await connection.execute(
            _CLAIM_AND_READ,
            {
                "id": delivery_id,
                "lease": lease_seconds,
                "token": uuid.uuid4(),
            },
        )
    ).one_or_none()
    if row is not None:
        return Lease(*row[:6]), Story(*row[6:])
    state = (await connection.execute(_STATE, {"id": delivery_id})).one_or_none()
    if state is None:
        return None
    status, lease_until = state
    if status == DeliveryStatus.sending.value and lease_until is not None:
        return Busy(lease_until)
    return DeliveryStatus(status)


async def mark_sent(connection: AsyncConnection, lease: Lease, now: datetime) -> bool:
    """Record a sent delivery if `lease` is still the current one (False: it is not)."""
    found = await connection.execute(
        _SENT, {"id": lease.id, "token": lease.lease_token, "now": now}
    )
    return found.one_or_none() is not None


async def mark_not_sent(
    connection: AsyncConnection,
    lease: Lease,
    status: DeliveryStatus,
    error: str,
    next_attempt_at: datetime | None,
) -> bool:
    """Record a failed or dead attempt if `lease` is still the current one."""
    found = await connection.execute(
        _NOT_SENT,
        {
            "id": lease.id,
            "token": lease.lease_token,
            "status": status.value,
            "error": error,
            "next_attempt_at": next_attempt_at,
        },
    )
    return found.one_or_none() is not None
