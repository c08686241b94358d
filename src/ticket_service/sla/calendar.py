"""Business time: how many seconds of working time lie between two instants, and when a
given amount of working time will have elapsed.

Pure (no database, no I/O), so the SLA clock, the scanner, the statistics and the tests all
use the same arithmetic. A calendar is a time zone, the working intervals of each weekday in
local wall-clock time, and holidays (local dates without any working time). Every interval is
turned into real instants through `zoneinfo` before it is measured, so a working day that
contains a DST change is as long as it really was (an 00:00-24:00 day can be 23 or 25 hours).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar without working time in this many days is a mistake, not a long holiday: the
# search for the instant a target is due stops there instead of looping for ever.
MAX_SCAN_DAYS = 3 * 366

# One working interval of a day in local wall-clock minutes: (start, end), 0 <= start < end
# <= 1440 (1440 is the next midnight, so 00:00-24:00 is the whole day).
Interval = tuple[int, int]


class CalendarError(ValueError):
    """A calendar that cannot be used: unknown time zone, bad hours, no working time."""


def valid_time_zone(name: str) -> bool:
    """True for an IANA time zone name `zoneinfo` knows (e.g. `Europe/Moscow`)."""
    if not name or name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unloadable
        return False
    return True


_ZONE_NAMES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONE_NAMES
    if _ZONE_NAMES is None:
        _ZONE_NAMES = frozenset(available_timezones())
    return _ZONE_NAMES


def check_intervals(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """The intervals of one day, sorted; CalendarError if one is empty, out of the day or
    overlaps another."""
    ordered = tuple(sorted((int(a), int(b)) for a, b in intervals))
    previous_end = 0
    for start, end in ordered:
        if not 0 <= start < end <= MINUTES_PER_DAY:
            raise CalendarError(f"working interval {start}-{end} is not within 00:00-24:00")
        if start < previous_end:
            raise CalendarError("working intervals of a day overlap")
        previous_end = end
    return ordered


@dataclass(frozen=True)
class BusinessCalendar:
    """A business calendar.

    `week` has seven entries, Monday first; each is that weekday's working intervals in
    local minutes (see `Interval`). `holidays` are local dates with no working time at all.
    """

    time_zone: str = "Europe/Moscow"
    week: tuple[tuple[Interval, ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not valid_time_zone(self.time_zone):
            raise CalendarError(f"unknown time zone {self.time_zone!r}")
        if len(self.week) != 7:
            raise CalendarError("a week has seven days")
        week = tuple(check_intervals(day) for day in self.week)
        if not any(week):
            raise CalendarError("a calendar needs some working time")
        object.__setattr__(self, "week", week)
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def from_hours(
        cls,
        time_zone: str,
        hours: dict[str, list[tuple[time, time]]] | dict[str, list[tuple[str, str]]],
        holidays: Iterable[date] = (),
    ) -> BusinessCalendar:
        """From `{"mon": [("09:00", "18:00")], ...}` (missing days are days off); an end of
        `24:00` or `00:00` means the next midnight."""
        week: list[tuple[Interval, ...]] = []
        for name in WEEKDAYS:
            week.append(tuple((_minutes(a), _minutes(b, end=True)) for a, b in hours.get(name, [])))
        unknown = set(hours) - set(WEEKDAYS)
        if unknown:
            raise CalendarError(f"unknown weekday {sorted(unknown)[0]!r}")
        return cls(time_zone=time_zone, week=tuple(week), holidays=frozenset(holidays))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def always_open(self) -> bool:
        """24/7 without holidays: business time is wall time."""
        return not self.holidays and all(day == ((0, MINUTES_PER_DAY),) for day in self.week)

    def hours(self) -> dict[str, list[tuple[str, str]]]:
        """The inverse of `from_hours`: `{"mon": [("09:00", "18:00")], ...}`, days off omitted."""
        return {
            WEEKDAYS[index]: [(_hhmm(a), _hhmm(b)) for a, b in day]
            for index, day in enumerate(self.week)
            if day
        }


def _minutes(value: time | str, *, end: bool = False) -> int:
    if isinstance(value, str):
        if value == "24:00":
            return MINUTES_PER_DAY
        try:
            parsed = time.fromisoformat(value)
        except ValueError as error:
            raise CalendarError(f"{value!r} is not a time of day (HH:MM)") from error
    else:
        parsed = value
    if parsed.second or parsed.microsecond:
        raise CalendarError("working hours are whole minutes")
    minutes = parsed.hour * 60 + parsed.minute
    return MINUTES_PER_DAY if end and minutes == 0 else minutes


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


WORKDAY: tuple[Interval, ...] = ((9 * 60, 18 * 60),)
DEFAULT_CALENDAR = BusinessCalendar(time_zone="Europe/Moscow", week=(WORKDAY,) * 5 + ((),) * 2)
"""Europe/Moscow, Monday to Friday 09:00-18:00, no holidays: for services without their own."""

ALWAYS = BusinessCalendar(time_zone="UTC", week=(((0, MINUTES_PER_DAY),),) * 7)
"""24/7: business time is wall time."""


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The real instant of a local wall-clock minute of `day` (1440: the next midnight).

    A wall time skipped by a DST change maps (fold=0) to the instant the clock jumped at, so
    a working interval that lies inside the gap has no length; a repeated wall time is its
    first occurrence."""
    if minutes >= MINUTES_PER_DAY:
        day, minutes = day + timedelta(days=1), minutes - MINUTES_PER_DAY
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return local.astimezone(UTC)


def _working_spans(
    cal: BusinessCalendar, first_day: date, days: int = MAX_SCAN_DAYS
) -> Iterator[tuple[datetime, datetime]]:
    """The working intervals as UTC instants, from `first_day` (local) on, in order, for
    `days` days."""
    zone = cal.zone
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day in cal.holidays:
            continue
        for start, end in cal.week[day.weekday()]:
            span_start = _local_instant(day, start, zone)
            span_end = _local_instant(day, end, zone)
            if span_end > span_start:
                yield span_start, span_end


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def business_day_before(cal: BusinessCalendar, instant: datetime) -> datetime:
    """The same local wall-clock time on the last working day before `instant`'s local
    date (holidays and days off skipped): e.g. one business day before Monday 10:00 is the
    previous Friday 10:00. Answers in UTC."""
    local = _aware(instant, "instant").astimezone(cal.zone)
    day = local.date()
    for _ in range(MAX_SCAN_DAYS):
        day -= timedelta(days=1)
        if day not in cal.holidays and cal.week[day.weekday()]:
            break
    else:  # pragma: no cover - a calendar has working time (checked when it is made)
        day = local.date() - timedelta(days=1)
    return datetime.combine(day, local.time(), tzinfo=cal.zone).astimezone(UTC)


def business_seconds(cal: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Whole seconds of business time between two aware instants; 0 if end <= start."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return 0
    if cal.always_open:
        return int((end - start).total_seconds())
    # One day earlier: a local day's intervals may begin before `start` in UTC terms.
    first_day = start.astimezone(cal.zone).date() - timedelta(days=1)
    days = (end.astimezone(cal.zone).date() - first_day).days + 1
    total = timedelta()
    for span_start, span_end in _working_spans(cal, first_day, days):
        if span_start >= end:
            break
        overlap = min(span_end, end) - max(span_start, start)
        if overlap > timedelta():
            total += overlap
    return int(total.total_seconds())


def add_business_seconds(cal: BusinessCalendar, start: datetime, seconds: int) -> datetime:
    """The instant (in UTC) at which `seconds` of business time have elapsed after `start`.

    0 (or less) gives `start` itself; otherwise the answer always lies within (or at the
    end of) a working interval, e.g. Friday 17:00 + 2 h in a 09-18 calendar is Monday 10:00.
    """
    start = _aware(start, "start")
    if seconds <= 0:
        return start
    if cal.always_open:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    first_day = start.astimezone(cal.zone).date() - timedelta(days=1)
    for span_start, span_end in _working_spans(cal, first_day):
        if span_end <= start:
            continue
        begin = max(span_start, start)
        available = span_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise CalendarError(f"no working time within {MAX_SCAN_DAYS} days")
