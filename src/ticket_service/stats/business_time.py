"""Stand-in for the `sla` branch's business calendars, until the lead merges it.

The statistics need exactly two things from it, with the same names and signatures as
`sla/calendar.py` and `sla/service.py`: `calendar_of(session, service_id)` and
`business_seconds(calendar, start, end)`. At merge, this module is deleted and stats/service.py
imports them from `ticket_service.sla` instead; every service then uses its own calendar
(holidays included). Until then every service has the default calendar: Europe/Moscow,
Monday to Friday 09:00-18:00, no holidays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "Europe/Moscow"
    opens: time = time(9)
    closes: time = time(18)
    workdays: frozenset[int] = frozenset(range(5))  # Monday = 0


DEFAULT_CALENDAR = BusinessCalendar()


async def calendar_of(session: AsyncSession, service_id: int) -> BusinessCalendar:
    """The service's business calendar: the default one, for every service, for now."""
    return DEFAULT_CALENDAR


def business_seconds(cal: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Working seconds of `cal` in [start, end) (0 when end <= start); aware datetimes."""
    if end <= start:
        return 0
    zone = ZoneInfo(cal.time_zone)
    day: date = start.astimezone(zone).date()
    last: date = end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        if day.weekday() in cal.workdays:
            opens = datetime.combine(day, cal.opens, zone)
            closes = datetime.combine(day, cal.closes, zone)
            span = (min(end, closes) - max(start, opens)).total_seconds()
            total += max(0.0, span)
        day += timedelta(days=1)
    return int(total)
