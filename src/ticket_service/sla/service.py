"""SLA rules: which policy a ticket is under, its clocks (first response; resolution,
paused while `waiting`, stopped on close, resumed on reopen), auto-close dates, and the
admin's calendars and policies. Services flush; the request commits.

The ticket service calls the hooks (`on_open`, `on_move`, `on_staff_reply`) as it changes
a ticket, before the change is flushed, so the SLA columns are written in the same UPDATE.
Instants come from the database's clock (`now()`), never the application's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.errors import Conflict, NotFound
from ticket_service.sla import repository
from ticket_service.sla.calendar import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    add_business_seconds,
    business_day_before,
    business_seconds,
)
from ticket_service.sla.models import CalendarRow, SlaPolicy
from ticket_service.sla.schemas import (
    CalendarCreate,
    CalendarIn,
    CalendarOut,
    PolicyIn,
    ServiceSlaIn,
    ServiceSlaOut,
    SlaOut,
    sla_view,
)
from ticket_service.tickets.models import Ticket
from ticket_service.vocabulary import Priority, Status

DEFAULT_CALENDAR_SLUG = "default"
WARN_PERCENT = 80
# The resolution clock runs in these statuses; `waiting` pauses it, a close stops it.
RUNNING = frozenset({Status.open.value, Status.processing.value})


class CalendarNotFound(NotFound):
    code = "calendar_not_found"
    message = "No such business calendar"


class ServiceNotFound(NotFound):
    code = "service_not_found"
    message = "No such service"


class CalendarExists(Conflict):
    code = "calendar_exists"


class CalendarInUse(Conflict):
    code = "calendar_in_use"


# --- calendars as the arithmetic sees them -------------------------------------------------


@lru_cache(maxsize=256)
def _parse(
    time_zone: str, hours: tuple[tuple[str, tuple[tuple[str, str], ...]], ...], holidays: Any
) -> BusinessCalendar:
    return BusinessCalendar.from_hours(
        time_zone, {day: list(intervals) for day, intervals in hours}, holidays=holidays
    )


def to_calendar(row: CalendarRow | None) -> BusinessCalendar:
    """The pure calendar of a stored one (None: DEFAULT_CALENDAR). Parsed once per
    content per process."""
    if row is None:
        return DEFAULT_CALENDAR
    hours = tuple(
        sorted((day, tuple((a, b) for a, b in intervals)) for day, intervals in row.hours.items())
    )
    return _parse(row.time_zone, hours, frozenset(row.holidays or ()))


async def calendar_of(session: AsyncSession, service_id: int) -> BusinessCalendar:
    """The business calendar of a service (its own, or the default)."""
    return to_calendar((await repository.context_of(session, service_id)).calendar)


# --- the clocks ---------------------------------------------------------------------------


def _warn_seconds(target: int) -> int:
    return target * WARN_PERCENT // 100


def _start_resolution(ticket: Ticket, cal: BusinessCalendar, now: datetime) -> None:
    target = ticket.sla_resolution_seconds or 0
    used = ticket.sla_used_seconds or 0
    ticket.sla_clock_started_at = now
    ticket.resolution_due_at = add_business_seconds(cal, now, target - used)
    ticket.resolution_warn_at = add_business_seconds(cal, now, _warn_seconds(target) - used)


def _missed(ticket: Ticket, now: datetime) -> None:
    if ticket.sla_breached_at is None:
        ticket.sla_breached_at = now


def _stop_resolution(ticket: Ticket, cal: BusinessCalendar, now: datetime) -> None:
    started = ticket.sla_clock_started_at
    if started is not None:
        ticket.sla_used_seconds = (ticket.sla_used_seconds or 0) + business_seconds(
            cal, started, now
        )
    ticket.sla_clock_started_at = None
    ticket.resolution_due_at = None
    ticket.resolution_warn_at = None
    if ticket.sla_used_seconds >= (ticket.sla_resolution_seconds or 0):
        _missed(ticket, now)
    # Closed with no first response after it was due (`waiting` comes after one): missed.
    due = ticket.first_response_due_at
    if ticket.first_response_at is None and due is not None and now > due:
        _missed(ticket, now)


def _responded(ticket: Ticket, now: datetime) -> None:
    ticket.first_response_at = now
    due = ticket.first_response_due_at
    if due is not None and now > due:
        _missed(ticket, now)


async def on_open(session: AsyncSession, ticket: Ticket) -> None:
    """Put a new ticket under its service's policy for its priority, if there is one: the
    first-response and resolution clocks start now."""
    context = await repository.context_of(session, ticket.service_id, ticket.priority)
    policy, now = context.policy, context.now
    if policy is None:
        return
    cal = to_calendar(context.calendar)
    first = policy.first_response_minutes * 60
    ticket.sla_policy_id = policy.id
    ticket.first_response_due_at = add_business_seconds(cal, now, first)
    ticket.first_response_warn_at = add_business_seconds(cal, now, _warn_seconds(first))
    ticket.sla_resolution_seconds = policy.resolution_minutes * 60
    ticket.sla_used_seconds = 0
    _start_resolution(ticket, cal, now)


async def on_move(session: AsyncSession, ticket: Ticket, old: str, new: Status) -> None:
    """A status change: the first move to processing is the first response; `waiting`
    pauses the resolution clock and starts the auto-close countdown; a close stops the
    clock; leaving `waiting` or a reopen resumes it."""
    under_sla = ticket.sla_policy_id is not None
    clock_turns = under_sla and ((old in RUNNING) != (new.value in RUNNING))
    responds = under_sla and new is Status.processing and ticket.first_response_at is None
    starts_waiting = new is Status.waiting and old != Status.waiting.value
    if old == Status.waiting.value and new is not Status.waiting:
        ticket.waiting_since = ticket.auto_close_at = ticket.auto_close_warn_at = None
    if not (clock_turns or responds or starts_waiting):
        return
    context = await repository.context_of(session, ticket.service_id)
    now, cal = context.now, to_calendar(context.calendar)
    if responds:
        _responded(ticket, now)
    if clock_turns:
        if new.value in RUNNING:
            _start_resolution(ticket, cal, now)
        else:
            _stop_resolution(ticket, cal, now)
    if starts_waiting:
        ticket.waiting_since = now
        if context.auto_close_days > 0:
            closes = now + timedelta(days=context.auto_close_days)
            ticket.auto_close_at = closes
            ticket.auto_close_warn_at = max(now, business_day_before(cal, closes))


async def on_staff_reply(session: AsyncSession, ticket: Ticket) -> None:
    """A public reply by the ticket's staff: the first one is the first response."""
    if ticket.sla_policy_id is not None and ticket.first_response_at is None:
        _responded(ticket, await repository.db_now(session))


async def sla_of(session: AsyncSession, ticket: Ticket) -> SlaOut | None:
    """A ticket's SLA (the API's `sla` field) at the database's now; None: under none."""
    if ticket.sla_policy_id is None:
        return None
    return sla_view(ticket, await repository.db_now(session))


# --- admin: calendars -----------------------------------------------------------------------


def _hours(cal: BusinessCalendar) -> dict[str, list[list[str]]]:
    return {day: [list(i) for i in intervals] for day, intervals in cal.hours().items()}


def calendar_out(row: CalendarRow | None) -> CalendarOut:
    if row is None:
        return CalendarOut(
            slug=DEFAULT_CALENDAR_SLUG,
            name="Europe/Moscow, Mon-Fri 09:00-18:00",
            time_zone=DEFAULT_CALENDAR.time_zone,
            hours=_hours(DEFAULT_CALENDAR),
            holidays=[],
        )
    cal = to_calendar(row)
    return CalendarOut(
        slug=row.slug,
        name=row.name,
        time_zone=row.time_zone,
        hours=_hours(cal),
        holidays=sorted(row.holidays or []),
        updated_at=row.updated_at,
    )


def _store(row: CalendarRow, data: CalendarIn) -> None:
    cal = data.calendar()  # normalised: sorted intervals, `00:00` ends as `24:00`
    row.name = data.name
    row.time_zone = cal.time_zone
    row.hours = _hours(cal)
    holidays: list[date] = sorted(set(data.holidays))
    row.holidays = holidays


async def list_calendars(session: AsyncSession) -> list[CalendarOut]:
    return [calendar_out(row) for row in await repository.calendar_rows(session)]


async def get_calendar(session: AsyncSession, slug: str) -> CalendarOut:
    row = await repository.calendar_by_slug(session, slug)
    if row is None:
        raise CalendarNotFound(details={"calendar": slug})
    return calendar_out(row)


async def create_calendar(session: AsyncSession, data: CalendarCreate) -> CalendarOut:
    row = CalendarRow(slug=data.slug)
    _store(row, data)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # the unique slug, also under a concurrent create
        raise CalendarExists(f"Calendar {data.slug!r} already exists") from exc
    await session.refresh(row)
    return calendar_out(row)


async def replace_calendar(session: AsyncSession, slug: str, data: CalendarIn) -> CalendarOut:
    """New hours apply to due dates computed from now on (tickets keep the ones they have
    until their clock next starts)."""
    row = await repository.calendar_by_slug(session, slug, for_update=True)
    if row is None:
        raise CalendarNotFound(details={"calendar": slug})
    _store(row, data)
    await session.flush()
    await session.refresh(row)
    return calendar_out(row)


async def delete_calendar(session: AsyncSession, slug: str) -> None:
    row = await repository.calendar_by_slug(session, slug, for_update=True)
    if row is None:
        raise CalendarNotFound(details={"calendar": slug})
    users = await repository.services_using(session, row.id)
    if users:
        raise CalendarInUse(
            "Services still use this calendar; give them another first",
            details={"services": users},
        )
    await session.delete(row)
    await session.flush()


# --- admin: a service's SLA -------------------------------------------------------------------


async def _service_sla(session: AsyncSession, slug: str) -> ServiceSlaOut:
    service = await repository.service_by_slug(session, slug)
    if service is None:
        raise ServiceNotFound(details={"service": slug})
    context = await repository.context_of(session, service.id)
    policies = await repository.policies_of(session, service.id)
    order = {p: i for i, p in enumerate(("urgent", "high", "normal", "low"))}
    return ServiceSlaOut(
        service=service.slug,
        calendar=calendar_out(context.calendar),
        calendar_is_default=context.calendar is None,
        auto_close_days=service.auto_close_days,
        policies=[
            PolicyIn(
                priority=Priority(p.priority),
                first_response_minutes=p.first_response_minutes,
                resolution_minutes=p.resolution_minutes,
            )
            for p in sorted(policies, key=lambda p: order.get(p.priority, 9))
            if p.active
        ],
    )


async def get_service_sla(session: AsyncSession, slug: str) -> ServiceSlaOut:
    return await _service_sla(session, slug)


async def set_service_sla(session: AsyncSession, slug: str, data: ServiceSlaIn) -> ServiceSlaOut:
    """Replace a service's calendar, auto-close days and policies. Tickets opened from now
    on use them (in other api processes within CATALOG_CACHE_SECONDS, for a priority that
    had no policy: catalog.cache); open tickets keep the targets and due dates they were
    given."""
    service = await repository.service_by_slug(session, slug, for_update=True)
    if service is None:
        raise ServiceNotFound(details={"service": slug})
    calendar_id: int | None = None
    if data.calendar is not None and data.calendar != DEFAULT_CALENDAR_SLUG:
        row = await repository.calendar_by_slug(session, data.calendar)
        if row is None:
            raise CalendarNotFound(details={"calendar": data.calendar})
        calendar_id = row.id
    service.calendar_id = calendar_id
    service.auto_close_days = data.auto_close_days
    existing = {p.priority: p for p in await repository.policies_of(session, service.id)}
    for wanted in data.policies:
        policy = existing.get(wanted.priority.value)
        if policy is None:
            policy = SlaPolicy(service_id=service.id, priority=wanted.priority.value)
            session.add(policy)
        policy.first_response_minutes = wanted.first_response_minutes
        policy.resolution_minutes = wanted.resolution_minutes
        policy.active = True
    await session.flush()
    await repository.retire_policies(session, service.id, [p.priority.value for p in data.policies])
    return await _service_sla(session, slug)
