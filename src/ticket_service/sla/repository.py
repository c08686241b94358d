"""All SQL about calendars and policies (the scanner's is in sla/scanner.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.catalog.models import Service
from ticket_service.db import revive
from ticket_service.sla.models import CalendarRow, SlaPolicy
from ticket_service.tickets.models import Ticket


def _first_response_open() -> ColumnElement[bool]:
    # The predicate of the first-response partial indexes.
    return and_(Ticket.first_response_at.is_(None), Ticket.closed_at.is_(None))


def at_risk() -> ColumnElement[bool]:
    """80% of a target used and the target not yet missed, at the database's now."""
    now = func.now()
    return or_(
        and_(
            _first_response_open(),
            Ticket.first_response_warn_at <= now,
            Ticket.first_response_due_at > now,
        ),
        and_(Ticket.resolution_warn_at <= now, Ticket.resolution_due_at > now),
    )


def breached() -> ColumnElement[bool]:
    """A target missed: overdue now (a running clock, an unanswered ticket) or found
    missed before (`sla_breached_at`). Each arm has its index."""
    now = func.now()
    return or_(
        Ticket.sla_breached_at.is_not(None),
        Ticket.resolution_due_at <= now,
        and_(_first_response_open(), Ticket.first_response_due_at < now),
    )


SLA_FILTERS: dict[str, Callable[[], ColumnElement[bool]]] = {
    "at_risk": at_risk,
    "breached": breached,
}


async def db_now(session: AsyncSession) -> datetime:
    """The database's clock (the transaction's start, like the rows' timestamps)."""
    now: datetime = await session.scalar(select(func.now()))  # type: ignore[assignment]
    return now


@dataclass(frozen=True)
class Context:
    now: datetime
    auto_close_days: int
    calendar: CalendarRow | None
    policy: SlaPolicy | None


_SERVICES, _CALENDARS, _POLICIES = Service.__table__, CalendarRow.__table__, SlaPolicy.__table__


def _context_statement(with_policy: bool) -> Select[Any]:
    # Plain columns, not entities: the ORM's loading of two entities cost twice the rest
    # of this read, and the context is only read (its rows are built back below).
    policy_on = (
        and_(
            _POLICIES.c.service_id == _SERVICES.c.id,
            _POLICIES.c.priority == bindparam("priority"),
            _POLICIES.c.active.is_(True),
        )
        if with_policy
        else false()
    )
    return (
        select(
            func.now().label("now"),
            _SERVICES.c.auto_close_days,
            *(column.label(f"calendar_{column.key}") for column in _CALENDARS.c),
            *(column.label(f"policy_{column.key}") for column in _POLICIES.c),
        )
        .select_from(_SERVICES)
        .outerjoin(_CALENDARS, _SERVICES.c.calendar_id == _CALENDARS.c.id)
        .outerjoin(_POLICIES, policy_on)
        .where(_SERVICES.c.id == bindparam("service_id"))
    )


# Built once (every open and every clock turn reads it): building it cost as much CPU as
# running it.
_CONTEXT = {True: _context_statement(True), False: _context_statement(False)}
_CALENDAR_FIELDS = tuple((f"calendar_{c.key}", c.key) for c in _CALENDARS.c)
_POLICY_FIELDS = tuple((f"policy_{c.key}", c.key) for c in _POLICIES.c)


async def context_of(
    session: AsyncSession, service_id: int, priority: str | None = None
) -> Context:
    """In one round trip: the database's now, the service's auto-close days, its calendar
    (None: the default) and, given a priority, its active policy for it (both unattached
    to the session: a context is read, never changed)."""
    stmt = _CONTEXT[priority is not None]
    params = {"service_id": service_id, "priority": priority}
    row = (await session.execute(stmt, params)).one()._mapping
    calendar = (
        revive(CalendarRow, {key: row[label] for label, key in _CALENDAR_FIELDS})
        if row["calendar_id"] is not None
        else None
    )
    policy = (
        revive(SlaPolicy, {key: row[label] for label, key in _POLICY_FIELDS})
        if row["policy_id"] is not None
        else None
    )
    return Context(row["now"], row["auto_close_days"], calendar, policy)


async def calendar_rows(session: AsyncSession) -> list[CalendarRow]:
    return list((await session.scalars(select(CalendarRow).order_by(CalendarRow.slug))).all())


async def calendar_by_slug(
    session: AsyncSession, slug: str, *, for_update: bool = False
) -> CalendarRow | None:
    stmt = select(CalendarRow).where(CalendarRow.slug == slug)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def service_by_slug(
    session: AsyncSession, slug: str, *, for_update: bool = False
) -> Service | None:
    stmt = select(Service).where(Service.slug == slug)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def policies_of(session: AsyncSession, service_id: int) -> list[SlaPolicy]:
    stmt = select(SlaPolicy).where(SlaPolicy.service_id == service_id)
    return list((await session.scalars(stmt)).all())


async def services_using(session: AsyncSession, calendar_id: int) -> list[str]:
    stmt = select(Service.slug).where(Service.calendar_id == calendar_id).order_by(Service.slug)
    return list((await session.scalars(stmt)).all())


async def retire_policies(session: AsyncSession, service_id: int, keep: list[str]) -> None:
    await session.execute(
        update(SlaPolicy)
        .where(SlaPolicy.service_id == service_id, SlaPolicy.priority.not_in(keep))
        .values(active=False, updated_at=func.now())
    )
