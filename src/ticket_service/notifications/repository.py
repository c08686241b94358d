from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from ticket_service.assignment.models import Follower
from ticket_service.notifications.models import Delivery, DeliveryStatus
from ticket_service.notifications.recipients import Target
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import Role, User


async def insert_deliveries(
    session: AsyncSession, event_id: int, targets: list[Target]
) -> list[int]:
    """New pending deliveries; ones that already exist (same key) are left alone."""
    if not targets:
        return []
    stmt = (
        insert(Delivery)
        .values(
            [
                {
                    "event_id": event_id,
                    "channel": t.channel.value,
                    "recipient": t.recipient,
                    "locale": t.locale,
                }
                for t in targets
            ]
        )
        .on_conflict_do_nothing(index_elements=["event_id", "channel", "recipient"])
        .returning(Delivery.id)
    )
    return list((await session.scalars(stmt)).all())


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


async def user_by_discord_id(session: AsyncSession, discord_id: str) -> User | None:
    return (
        await session.execute(select(User).where(User.discord_id == discord_id))
    ).scalar_one_or_none()


async def locked_delivery(session: AsyncSession, delivery_id: int) -> Delivery | None:
    """Lock the row for the duration of one attempt: two jobs never send the same delivery."""
    stmt = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class Busy:
    """Another worker holds the delivery's lease until `until` (database clock)."""

    until: datetime


async def claim(
    session: AsyncSession, delivery_id: int, lease_seconds: float
) -> Delivery | DeliveryStatus | Busy | None:
    """Lease the delivery for one attempt: mark it `sending` with a new token, count the
    attempt. Claimable unless sent, dead, or under a lease that has not expired (a worker
    that died mid-send leaves one that does). The caller commits before sending, so no
    lock is held across the network. Anything else says why not (None: the row is gone)."""
    stmt = (
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            Delivery.status.not_in([DeliveryStatus.sent.value, DeliveryStatus.dead.value]),
            (Delivery.status != DeliveryStatus.sending.value)
            | (Delivery.lease_until <= func.now()),
        )
        .values(
            status=DeliveryStatus.sending.value,
            attempts=Delivery.attempts + 1,
            lease_until=func.now()
            + text(":lease * interval '1 second'").bindparams(lease=lease_seconds),
            lease_token=uuid.uuid4(),
            updated_at=func.now(),
        )
        .returning(Delivery)
    )
    claimed: Delivery | None = (
        await session.scalars(select(Delivery).from_statement(stmt))
    ).one_or_none()
    if claimed is not None:
        return claimed
    current = await session.get(Delivery, delivery_id)
    if current is None:
        return None
    if current.status == DeliveryStatus.sending.value and current.lease_until is not None:
        return Busy(current.lease_until)
    return DeliveryStatus(current.status)


async def leased_delivery(
    session: AsyncSession, delivery_id: int, lease_token: uuid.UUID
) -> Delivery | None:
    """The delivery, locked, if the lease `lease_token` names is still the current one."""
    stmt = (
        select(Delivery)
        .where(Delivery.id == delivery_id, Delivery.lease_token == lease_token)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def event_with_ticket(
    session: AsyncSession, event_id: int
) -> tuple[TicketEvent, Ticket, User | None] | None:
    actor = aliased(User)
    stmt = (
        select(TicketEvent, Ticket, actor)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .outerjoin(actor, actor.id == TicketEvent.actor_id)
        .options(joinedload(Ticket.author), joinedload(Ticket.assignee), joinedload(Ticket.service))
        .where(TicketEvent.id == event_id)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1], row[2]) if row else None


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
