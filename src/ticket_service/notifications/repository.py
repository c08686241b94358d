from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FromClause,
    Table,
    Text,
    bindparam,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ticket_service.assignment.models import Follower
from ticket_service.notifications.models import DUE, Delivery, DeliveryStatus
from ticket_service.notifications.recipients import Target
from ticket_service.tickets.models import TicketEvent
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import Status

# The statuses that close a ticket, as SQL (derived from the vocabulary).
_CLOSED = ", ".join(f"'{s.value}'" for s in Status if s.is_closed)


# The senders (notifications/sender.py) LISTEN on this channel. A NOTIFY inside a transaction
# is delivered at its COMMIT, once per transaction however many times it was called: a
# sender never wakes before the rows it is woken for are visible, nor for a rollback.
WAKE_CHANNEL = "ticket_deliveries"


def wake() -> ColumnElement[Any]:
    """`pg_notify` of the senders' channel, for a statement of the change's transaction."""
    return func.pg_notify(WAKE_CHANNEL, "")


_DELIVERIES = cast(Table, Delivery.__table__)
_TARGET_ARRAYS = ("channels", "recipients", "locales")


def new_deliveries(event_id: ColumnElement[int], event: FromClause | None, prefix: str) -> Any:
    """The INSERT of one event's pending delivery rows, RETURNING their ids; ones that
    already exist (same key) are left alone. The event's id is `event_id` (read from
    `event`, a CTE of the same statement, when given); the targets are bound as three
    arrays, `target_params(prefix, …)`. The one definition of a new delivery, for
    `insert_deliveries` and for a change's own statement (events.write)."""
    arrays = [bindparam(f"{prefix}{name}", type_=ARRAY(Text)) for name in _TARGET_ARRAYS]
    targets = (
        func.unnest(*arrays)
        .table_valued("channel", "recipient", "locale")
        .render_derived(name=f"{prefix}targets")
    )
    source = event.join(targets, true()) if event is not None else targets
    rows = select(
        event_id,
        targets.c.channel,
        targets.c.recipient,
        targets.c.locale,
        literal_column(f"'{DeliveryStatus.pending.value}'"),
        literal_column("0"),
    ).select_from(source)
    return (
        pg_insert(_DELIVERIES)
        .from_select(("event_id", "channel", "recipient", "locale", "status", "attempts"), rows)
        .on_conflict_do_nothing(index_elements=("event_id", "channel", "recipient"))
        .returning(_DELIVERIES.c.id)
    )


def target_params(prefix: str, targets: Sequence[Target]) -> dict[str, list[str | None]]:
    """The bind parameters of `new_deliveries(…, prefix)` for `targets`."""
    return {
        f"{prefix}channels": [t.channel.value for t in targets],
        f"{prefix}recipients": [t.recipient for t in targets],
        f"{prefix}locales": [t.locale for t in targets],
    }


# The delivery rows are the queue (a transactional outbox): inserted and the senders woken
# by one statement of the change's transaction, no job per delivery.
_INSERTED = new_deliveries(bindparam("event_id", type_=BigInteger), None, "").cte("inserted")
_INSERT_AND_WAKE = select(_INSERTED.c.id, wake()).select_from(_INSERTED)
_WAKE_ONLY = select(wake())


async def insert_deliveries(
    session: AsyncSession, event_id: int, targets: list[Target]
) -> list[int]:
    """New pending deliveries, in one statement of the current transaction that also wakes
    the senders at COMMIT; ones that already exist (same key) are left alone."""
    if not targets:
        return []
    params = {"event_id": event_id, **target_params("", targets)}
    rows = await session.execute(_INSERT_AND_WAKE, params)
    return [row[0] for row in rows]


async def wake_senders(session: AsyncSession) -> None:
    """Wake the senders when the current transaction commits (an admin's replay)."""
    await session.execute(_WAKE_ONLY)


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
    """The delivery, locked until the end of the transaction (an admin's replay)."""
    stmt = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


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


# ---------------------------------------------------------------------------- the senders
# The senders' hot path (notifications/sender.py): plain SQL built once, run as single
# autocommit statements (no BEGIN/COMMIT pair), rows read as tuples: no ORM entity is built
# per delivery.

# A claim reads the due deliveries (models.DUE). The partial index
# `ix_notification_deliveries_due` holds exactly the unsent ones, so it never reads the sent.

# Take the leases of up to :n due deliveries (SKIP LOCKED: two senders claiming at once
# get different rows) and read, in the same statement, everything each message shows: the
# event, its ticket now, the people it names, the comment (as last edited) or the rating it
# is about. Every delivery gets its own token; its outcome is recorded only under it.
_CLAIM_AND_READ = text(
    f"""WITH due AS (
        SELECT id FROM notification_deliveries
        WHERE {DUE}
        ORDER BY id
        LIMIT :n
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE notification_deliveries d
        SET status = '{DeliveryStatus.sending.value}', attempts = d.attempts + 1,
            lease_until = now() + make_interval(secs => :lease),
            lease_token = gen_random_uuid(), updated_at = now()
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.event_id, d.channel, d.recipient, d.locale, d.attempts, d.lease_token
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
    ORDER BY c.id
    """  # noqa: S608
)

# A claimed delivery whose lease ran out before its turn to be sent came (the sender was
# busy with the ones before it, or is stopping): back to the queue, the attempt uncounted.
_HAND_BACK = text(
    f"""UPDATE notification_deliveries
    SET status = CASE WHEN attempts > 1 THEN '{DeliveryStatus.failed.value}'
                      ELSE '{DeliveryStatus.pending.value}' END,
        attempts = attempts - 1, next_attempt_at = NULL,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    WHERE id = :id AND lease_token = :token
    RETURNING id
    """  # noqa: S608
)


_SENT = text(
    """UPDATE notification_deliveries
    SET status = 'sent', sent_at = :now, next_attempt_at = NULL,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    WHERE id = :id AND lease_token = :token
    RETURNING id
    """
)

# Many sent deliveries at once, each under its own lease token (what the senders record).
_SENT_MANY = text(
    """UPDATE notification_deliveries d
    SET status = 'sent', sent_at = u.sent_at, next_attempt_at = NULL,
        lease_until = NULL, lease_token = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS bigint[]), CAST(:tokens AS uuid[]),
                CAST(:sent_at AS timestamptz[])) AS u (id, token, sent_at)
    WHERE d.id = u.id AND d.lease_token = u.token
    RETURNING d.id
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


async def claim_due(
    connection: AsyncConnection, limit: int, lease_seconds: float
) -> list[tuple[Lease, Story]]:
    """Lease up to `limit` due deliveries for one attempt each, oldest first: mark them
    `sending` with a token of their own, count the attempt, and read what each message
    shows. On an autocommit connection: committed before sending, so no lock is held across
    the network."""
    rows = await connection.execute(_CLAIM_AND_READ, {"n": limit, "lease": lease_seconds})
    return [(Lease(*row[:6]), Story(*row[6:])) for row in rows]


async def hand_back(connection: AsyncConnection, lease: Lease) -> bool:
    """Return a claimed delivery that was not attempted to the queue, due now."""
    found = await connection.execute(_HAND_BACK, {"id": lease.id, "token": lease.lease_token})
    return found.one_or_none() is not None


async def mark_sent(connection: AsyncConnection, lease: Lease, now: datetime) -> bool:
    """Record a sent delivery if `lease` is still the current one (False: it is not)."""
    found = await connection.execute(
        _SENT, {"id": lease.id, "token": lease.lease_token, "now": now}
    )
    return found.one_or_none() is not None


async def mark_sent_many(
    connection: AsyncConnection, sent: list[tuple[Lease, datetime]]
) -> set[int]:
    """Record sent deliveries, each if its lease is still the current one, in one
    statement; the ids recorded (the others' leases were lost)."""
    found = await connection.execute(
        _SENT_MANY,
        {
            "ids": [lease.id for lease, _ in sent],
            "tokens": [lease.lease_token for lease, _ in sent],
            "sent_at": [at for _, at in sent],
        },
    )
    return {row[0] for row in found}


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
