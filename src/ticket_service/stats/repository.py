"""SQL of the statistics: counts are aggregated by PostgreSQL (grouped by service and
assignee, so one query serves both tables); durations come back as the few timestamps of
the period's tickets, for the business-hours arithmetic."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.assignment.models import TeamMember
from ticket_service.catalog.models import Service
from ticket_service.events.registry import Kind
from ticket_service.ratings.models import TicketRating
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import User
from ticket_service.vocabulary import Status

CLOSED = [s.value for s in Status if s.is_closed]


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive
    end: datetime  # exclusive


# (service_id, assignee_id or None) -> a number
Counts = dict[tuple[int, int | None], int]


@dataclass(frozen=True)
class Span:
    """One measured ticket: from `start` to `end` (wall clock), in its service's calendar."""

    ticket_id: uuid.UUID
    service_id: int
    assignee_id: int | None
    start: datetime
    end: datetime


async def services(session: AsyncSession, slug: str | None) -> list[Service]:
    stmt = select(Service).order_by(Service.slug)
    if slug is not None:
        stmt = stmt.where(Service.slug == slug)
    return list((await session.scalars(stmt)).all())


async def team_service_ids(session: AsyncSession, user_id: int) -> set[int]:
    stmt = select(TeamMember.service_id).where(TeamMember.user_id == user_id)
    return set((await session.scalars(stmt)).all())


async def people(session: AsyncSession, ids: set[int]) -> list[User]:
    if not ids:
        return []
    return list((await session.scalars(select(User).where(User.id.in_(ids)))).all())


def _grouped(rows: Sequence[tuple[int, int | None, int]]) -> Counts:
    return {(service_id, assignee_id): n for service_id, assignee_id, n in rows}


async def count_in(
    session: AsyncSession, column: str, service_ids: list[int], period: Period
) -> Counts:
    """Tickets whose `column` (created_at, closed_at) falls in the period."""
    when = getattr(Ticket, column)
    stmt = (
        select(Ticket.service_id, Ticket.assignee_id, func.count())
        .where(Ticket.service_id.in_(service_ids), when >= period.start, when < period.end)
        .group_by(Ticket.service_id, Ticket.assignee_id)
    )
    return _grouped((await session.execute(stmt)).all())


async def backlog(
    session: AsyncSession, service_ids: list[int]
) -> dict[tuple[int, int | None, str], int]:
    """Tickets not closed now, by service, assignee and status."""
    stmt = (
        select(Ticket.service_id, Ticket.assignee_id, Ticket.status, func.count())
        .where(Ticket.service_id.in_(service_ids), Ticket.status.not_in(CLOSED))
        .group_by(Ticket.service_id, Ticket.assignee_id, Ticket.status)
    )
    rows = (await session.execute(stmt)).all()
    return {(service_id, assignee, status): n for service_id, assignee, status, n in rows}


async def resolutions(session: AsyncSession, service_ids: list[int], period: Period) -> list[Span]:
    """Tickets closed in the period: from creation to their close."""
    stmt = select(
        Ticket.id, Ticket.service_id, Ticket.assignee_id, Ticket.created_at, Ticket.closed_at
    ).where(
        Ticket.service_id.in_(service_ids),
        Ticket.closed_at >= period.start,
        Ticket.closed_at < period.end,
    )
    rows = (await session.execute(stmt)).all()
    return [Span(guid, s, a, created, closed) for guid, s, a, created, closed in rows if closed]


async def first_responses(
    session: AsyncSession, service_ids: list[int], period: Period
) -> list[Span]:
    """Tickets first answered in the period: from creation to the first public reply by
    someone other than the author (only staff besides the author can reply) or the first
    move to `processing` by someone other than the author, whichever came first."""
    responded = func.min(TicketEvent.created_at)
    response = and_(
        TicketEvent.actor_id.is_not(None),
        TicketEvent.actor_id != Ticket.author_id,
        or_(
            TicketEvent.kind == Kind.commented.value,
            and_(
                TicketEvent.kind == Kind.status_changed.value,
                TicketEvent.to_status == Status.processing.value,
            ),
        ),
    )
    stmt = (
        select(Ticket.id, Ticket.service_id, Ticket.assignee_id, Ticket.created_at, responded)
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        .where(Ticket.service_id.in_(service_ids), Ticket.created_at < period.end, response)
        .group_by(Ticket.id)
        .having(and_(responded >= period.start, responded < period.end))
    )
    return [Span(*row) for row in (await session.execute(stmt)).all()]


async def ratings(
    session: AsyncSession, service_ids: list[int], period: Period
) -> dict[tuple[int, int | None], tuple[int, int]]:
    """(count, sum of scores) of the ratings given in the period."""
    stmt = (
        select(
            Ticket.service_id,
            Ticket.assignee_id,
            func.count(),
            func.sum(TicketRating.score),
        )
        .join(Ticket, Ticket.id == TicketRating.ticket_id)
        .where(
            Ticket.service_id.in_(service_ids),
            TicketRating.created_at >= period.start,
            TicketRating.created_at < period.end,
        )
        .group_by(Ticket.service_id, Ticket.assignee_id)
    )
    rows = (await session.execute(stmt)).all()
    return {(s, a): (int(n), int(total)) for s, a, n, total in rows}


# The SLA state of a ticket comes with the `sla` branch (tickets.sla_policy_id, the
# `sla_breached` event kind). Until it is merged no ticket is under an SLA; once the column
# exists, the query below counts them with no change here.


async def sla_outcomes(
    session: AsyncSession, service_ids: list[int], period: Period
) -> dict[tuple[int, int | None], tuple[int, int]]:
    """(closed, met) of the tickets under an SLA closed in the period: met = neither target
    missed (`sla_breached_at` unset: the SLA clocks set it when a target is missed, whether
    the scanner saw it coming or the ticket was answered or closed late)."""
    stmt = (
        select(
            Ticket.service_id,
            Ticket.assignee_id,
            func.count(),
            func.count().filter(Ticket.sla_breached_at.is_(None)),
        )
        .where(
            Ticket.service_id.in_(service_ids),
            Ticket.sla_policy_id.is_not(None),
            Ticket.closed_at >= period.start,
            Ticket.closed_at < period.end,
        )
        .group_by(Ticket.service_id, Ticket.assignee_id)
    )
    rows = (await session.execute(stmt)).all()
    return {(s, a): (int(n), int(met)) for s, a, n, met in rows}
