"""All SQL about teams, followers and picking an assignee."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ticket_service.assignment.models import Follower, TeamMember
from ticket_service.catalog.models import Service
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import Status

# The tickets that weigh on an agent: everything not closed.
ACTIVE_STATUSES = tuple(s.value for s in Status if not s.is_closed)
STAFF_ROLES = (Role.agent.value, Role.admin.value)


def available_now() -> ColumnElement[bool]:
    """An agent is available unless away, and away ends when `away_until` has passed."""
    return or_(
        User.available.is_(True),
        and_(User.away_until.is_not(None), User.away_until <= func.now()),
    )


async def service_by_slug(session: AsyncSession, slug: str) -> Service | None:
    return (await session.execute(select(Service).where(Service.slug == slug))).scalar_one_or_none()


async def user_by_discord_id(session: AsyncSession, discord_id: str) -> User | None:
    stmt = select(User).where(User.discord_id == discord_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def members(session: AsyncSession, service_id: int) -> Sequence[tuple[User, TeamMember]]:
    stmt = (
        select(User, TeamMember)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.service_id == service_id)
        .order_by(TeamMember.created_at, User.id)
    )
    return [(user, member) for user, member in (await session.execute(stmt)).all()]


async def add_member(session: AsyncSession, service_id: int, user_id: int) -> None:
    """Idempotent: putting somebody on a team twice changes nothing."""
    stmt = (
        insert(TeamMember)
        .values(service_id=service_id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=["service_id", "user_id"])
    )
    await session.execute(stmt)


async def remove_member(session: AsyncSession, service_id: int, user_id: int) -> None:
    await session.execute(
        delete(TeamMember).where(TeamMember.service_id == service_id, TeamMember.user_id == user_id)
    )


async def is_member(session: AsyncSession, service_id: int, user_id: int) -> bool:
    stmt = select(
        exists().where(TeamMember.service_id == service_id, TeamMember.user_id == user_id)
    )
    return bool(await session.scalar(stmt))


async def member_and_following(
    session: AsyncSession, service_id: int, ticket_id: uuid.UUID, user_id: int
) -> tuple[bool, bool]:
    """`is_member` and `is_following` in one round trip (a ticket page asks both)."""
    stmt = select(
        exists().where(TeamMember.service_id == service_id, TeamMember.user_id == user_id),
        exists().where(Follower.ticket_id == ticket_id, Follower.user_id == user_id),
    )
    member, following = (await session.execute(stmt)).one()
    return bool(member), bool(following)


async def staff_member(session: AsyncSession, service_id: int, discord_id: str) -> User | None:
    """The team member with this Discord id, if they are on the team and still staff."""
    stmt = (
        select(User)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(
            TeamMember.service_id == service_id,
            User.discord_id == discord_id,
            User.role.in_(STAFF_ROLES),
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_ticket(session: AsyncSession, guid: uuid.UUID) -> None:
    """Take the ticket's row lock before reading it, so what is read next (its assignee) is
    what this transaction changes: a concurrent claim waits here, then sees the winner.
    FOR NO KEY UPDATE: it does not hold back new events or comments referencing the row."""
    stmt = select(Ticket.id).where(Ticket.id == guid).with_for_update(key_share=True)
    await session.execute(stmt)


async def lock_service(session: AsyncSession, service_id: int) -> str | None:
    """Serialize automatic assignment within a service; answers its current mode."""
    stmt = (
        select(Service.assignment).where(Service.id == service_id).with_for_update(key_share=True)
    )
    mode: str | None = await session.scalar(stmt)
    return mode


async def next_in_turn(session: AsyncSession, service_id: int, least_loaded: bool) -> User | None:
    """The available staff member of the team whose turn it is: the one assigned longest
    ago (never: first); with `least_loaded`, the fewest active tickets first, then that
    order. Read under the service's lock (see `lock_service`)."""
    order = [
        TeamMember.last_assigned_at.asc().nulls_first(),
        TeamMember.created_at,
        User.id,
    ]
    if least_loaded:
        load = (
            select(func.count())
            .where(Ticket.assignee_id == User.id, Ticket.status.in_(ACTIVE_STATUSES))
            .correlate(User)
            .scalar_subquery()
        )
        order.insert(0, load.asc())
    stmt = (
        select(User)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(
            TeamMember.service_id == service_id,
            User.role.in_(STAFF_ROLES),
            available_now(),
        )
        .order_by(*order)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def mark_assigned(session: AsyncSession, service_id: int, user_id: int) -> None:
    # clock_timestamp, not now(): now() is when the transaction began, and a transaction
    # that began earlier may pick later (it waited for the lock).
    await session.execute(
        update(TeamMember)
        .where(TeamMember.service_id == service_id, TeamMember.user_id == user_id)
        .values(last_assigned_at=func.clock_timestamp())
    )


async def set_availability(
    session: AsyncSession, user: User, available: bool, until: datetime | None
) -> None:
    """An explicit UPDATE, not an attribute change: the caller's User may be a snapshot the
    token cache revived, whose idea of the old value could be a moment out of date."""
    await session.execute(
        update(User).where(User.id == user.id).values(available=available, away_until=until)
    )
    set_committed_value(user, "available", available)
    set_committed_value(user, "away_until", until)


async def is_following(session: AsyncSession, ticket_id: uuid.UUID, user_id: int) -> bool:
    stmt = select(exists().where(Follower.ticket_id == ticket_id, Follower.user_id == user_id))
    return bool(await session.scalar(stmt))


async def add_follower(session: AsyncSession, ticket_id: uuid.UUID, user_id: int) -> None:
    stmt = (
        insert(Follower)
        .values(ticket_id=ticket_id, user_id=user_id)
        .on_conflict_do_nothing(index_elements=["ticket_id", "user_id"])
    )
    await session.execute(stmt)


async def remove_follower(session: AsyncSession, ticket_id: uuid.UUID, user_id: int) -> None:
    await session.execute(
        delete(Follower).where(Follower.ticket_id == ticket_id, Follower.user_id == user_id)
    )
