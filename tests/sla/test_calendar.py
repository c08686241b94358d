"""Business-time arithmetic: weekends, holidays, midnight, DST, 24/7, and that the two
functions are inverses of each other."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticket_service.sla.calendar import (
    ALWAYS,
    DEFAULT_CALENDAR,
    WEEKDAYS,
    BusinessCalendar,
    CalendarError,
    add_business_seconds,
    business_day_before,
    business_seconds,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 3600


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)  # type: ignore[misc]


def test_within_one_working_day() -> None:
    # Monday 30 November 2026, 10:00-12:30 Moscow.
    assert business_seconds(DEFAULT_CALENDAR, msk(2026, 11, 30, 10), msk(2026, 11, 30, 12, 30)) == (
        2 * HOUR + 1800
    )


def test_end_before_start_is_zero() -> None:
    assert business_seconds(DEFAULT_CALENDAR, msk(2026, 11, 30, 12), msk(2026, 11, 30, 10)) == 0
    assert business_seconds(DEFAULT_CALENDAR, msk(2026, 11, 30, 12), msk(2026, 11, 30, 12)) == 0


def test_over_a_weekend() -> None:
    friday_5pm, monday_10am = msk(2026, 11, 27, 17), msk(2026, 11, 30, 10)
    assert business_seconds(DEFAULT_CALENDAR, friday_5pm, monday_10am) == 2 * HOUR
    assert add_business_seconds(DEFAULT_CALENDAR, friday_5pm, 2 * HOUR) == monday_10am
    # Saturday and Sunday count nothing at all.
    assert business_seconds(DEFAULT_CALENDAR, msk(2026, 11, 28, 0), msk(2026, 11, 30, 0)) == 0


def test_outside_hours_starts_at_the_next_opening() -> None:
    # Tuesday 20:00 + 1 h = Wednesday 10:00; Tuesday 06:00 + 1 h = Tuesday 10:00.
    assert add_business_seconds(DEFAULT_CALENDAR, msk(2026, 12, 1, 20), HOUR) == msk(
        2026, 12, 2, 10
    )
    assert add_business_seconds(DEFAULT_CALENDAR, msk(2026, 12, 1, 6), HOUR) == msk(2026, 12, 1, 10)


def test_across_midnight_in_a_night_shift_calendar() -> None:
    night = BusinessCalendar.from_hours(
        "Europe/Moscow",
        {day: [("00:00", "06:00"), ("22:00", "24:00")] for day in WEEKDAYS},
    )
    start = msk(2026, 12, 1, 23)
    assert add_business_seconds(night, start, 3 * HOUR) == msk(2026, 12, 2, 2)
    assert business_seconds(night, start, msk(2026, 12, 2, 7)) == 7 * HOUR
    # In UTC the Moscow night starts the evening before: the instants must not care.
    assert business_seconds(night, start.astimezone(UTC), msk(2026, 12, 2, 7).astimezone(UTC)) == (
        7 * HOUR
    )


def test_holidays_count_nothing() -> None:
    new_year = BusinessCalendar.from_hours(
        "Europe/Moscow",
        {day: [("09:00", "18:00")] for day in WEEKDAYS[:5]},
        holidays=[date(2027, 1, d) for d in range(1, 9)],
    )
    # Thursday 31 December 17:00 + 2 h: the holidays run to Friday 8 January, so Monday 11th.
    assert add_business_seconds(new_year, msk(2026, 12, 31, 17), 2 * HOUR) == msk(2027, 1, 11, 10)
    assert business_seconds(new_year, msk(2026, 12, 31, 17), msk(2027, 1, 11, 10)) == 2 * HOUR
    # Without the holidays the same two hours end on Friday 1 January.
    assert add_business_seconds(DEFAULT_CALENDAR, msk(2026, 12, 31, 17), 2 * HOUR) == msk(
        2027, 1, 1, 10
    )


def test_a_dst_zone_measures_real_hours() -> None:
    always_berlin = BusinessCalendar.from_hours(
        "Europe/Berlin",
        {day: [("00:00", "24:00")] for day in WEEKDAYS},
        holidays=[date(2020, 1, 1)],
    )
    assert not always_berlin.always_open  # the holiday forces the day-by-day path
    # Sunday 29 March 2026: clocks go 02:00 -> 03:00, the day has 23 hours.
    spring = (datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN))
    assert business_seconds(always_berlin, *spring) == 23 * HOUR
    # Sunday 25 October 2026: 03:00 -> 02:00, the day has 25 hours.
    autumn = (datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN))
    assert business_seconds(always_berlin, *autumn) == 25 * HOUR


def test_a_dst_zone_office_day_keeps_its_local_hours() -> None:
    berlin = BusinessCalendar.from_hours(
        "Europe/Berlin", {day: [("09:00", "17:00")] for day in WEEKDAYS}
    )
    # Saturday 16:00 CET + 2 h = Sunday 10:00 CEST: after the switch the office still opens
    # at 09:00 local, which is one hour earlier in UTC.
    saturday = datetime(2026, 3, 28, 16, tzinfo=BERLIN)
    due = add_business_seconds(berlin, saturday, 2 * HOUR)
    assert due == datetime(2026, 3, 29, 10, tzinfo=BERLIN)
    assert due.astimezone(UTC) == datetime(2026, 3, 29, 8, tzinfo=UTC)
    assert business_seconds(berlin, saturday, due) == 2 * HOUR


def test_a_working_interval_inside_the_dst_gap_has_no_length() -> None:
    gap = BusinessCalendar.from_hours(
        "Europe/Berlin", {"sun": [("02:00", "03:00")], "mon": [("09:00", "10:00")]}
    )
    assert (
        business_seconds(
            gap, datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)
        )
        == 0
    )
    assert (
        business_seconds(
            gap, datetime(2026, 3, 22, tzinfo=BERLIN), datetime(2026, 3, 23, tzinfo=BERLIN)
        )
        == HOUR
    )


def test_twenty_four_seven() -> None:
    assert ALWAYS.always_open
    start = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # a Saturday night
    assert add_business_seconds(ALWAYS, start, 2 * HOUR) == start + timedelta(hours=2)
    assert business_seconds(ALWAYS, start, start + timedelta(days=3)) == 72 * HOUR


def test_moscow_has_no_dst() -> None:
    # 28 March - 1 April 2026 (across the European switch): Moscow does not move, so
    # Friday 17:00 + 9 h is Monday 17:00, 14:00 UTC (answers are in UTC).
    due = add_business_seconds(DEFAULT_CALENDAR, msk(2026, 3, 27, 17), 9 * HOUR)
    assert due == datetime(2026, 3, 30, 14, tzinfo=UTC)
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("zone", "hours", "message"),
    [
        ("Mars/Olympus", {"mon": [("09:00", "18:00")]}, "time zone"),
        ("Europe/Moscow", {"mon": [("18:00", "09:00")]}, "within"),
        ("Europe/Moscow", {"mon": [("09:00", "13:00"), ("12:00", "18:00")]}, "overlap"),
        ("Europe/Moscow", {"mon": [("9h", "18:00")]}, "time of day"),
        ("Europe/Moscow", {"mon": [("09:00:30", "18:00")]}, "whole minutes"),
        ("Europe/Moscow", {}, "working time"),
        ("Europe/Moscow", {"funday": [("09:00", "18:00")]}, "weekday"),
    ],
)
def test_bad_calendars_are_refused(
    zone: str, hours: dict[str, list[tuple[str, str]]], message: str
) -> None:
    with pytest.raises(CalendarError, match=message):
        BusinessCalendar.from_hours(zone, hours)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_seconds(DEFAULT_CALENDAR, datetime(2026, 1, 1), msk(2026, 1, 2))


def test_hours_round_trip() -> None:
    cal = BusinessCalendar.from_hours("Asia/Yekaterinburg", {"sat": [("10:00", "24:00")]})
    assert cal.hours() == {"sat": [("10:00", "24:00")]}
    assert BusinessCalendar.from_hours(cal.time_zone, cal.hours()) == cal


CALENDARS = st.sampled_from(
    [
        DEFAULT_CALENDAR,
        ALWAYS,
        BusinessCalendar.from_hours(
            "Europe/Berlin",
            {d: [("08:00", "12:00"), ("13:00", "17:30")] for d in WEEKDAYS[:6]},
            holidays=[date(2026, 3, 30), date(2026, 10, 26)],
        ),
        BusinessCalendar.from_hours(
            "America/New_York", {d: [("00:00", "24:00")] for d in WEEKDAYS[1:]}
        ),
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(cal=CALENDARS, start=INSTANTS, seconds=st.integers(min_value=0, max_value=60 * 24 * HOUR))
def test_adding_then_measuring_gives_the_same_seconds(
    cal: BusinessCalendar, start: datetime, seconds: int
) -> None:
    due = add_business_seconds(cal, start, seconds)
    assert due >= start
    assert business_seconds(cal, start, due) == seconds


@settings(max_examples=150, deadline=None)
@given(
    cal=CALENDARS,
    start=INSTANTS,
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
)
def test_measuring_then_adding_never_overshoots(
    cal: BusinessCalendar, start: datetime, length: timedelta
) -> None:
    end = start + length
    used = business_seconds(cal, start, end)
    assert add_business_seconds(cal, start, used) <= end
    # ...and one more second of business time lies after `end` (or exactly at it).
    assert add_business_seconds(cal, start, used + 1) > end - timedelta(seconds=1)


def test_one_business_day_before() -> None:
    # Monday 10:00 -> Friday 10:00; Sunday 15:00 -> Friday 15:00; with a holiday on Friday,
    # Thursday.
    assert business_day_before(DEFAULT_CALENDAR, msk(2026, 11, 30, 10)) == msk(2026, 11, 27, 10)
    assert business_day_before(DEFAULT_CALENDAR, msk(2026, 11, 29, 15)) == msk(2026, 11, 27, 15)
    with_holiday = BusinessCalendar(
        time_zone="Europe/Moscow",
        week=DEFAULT_CALENDAR.week,
        holidays=frozenset({date(2026, 11, 27)}),
    )
    assert business_day_before(with_holiday, msk(2026, 11, 30, 10)) == msk(2026, 11, 26, 10)
    assert business_day_before(ALWAYS, datetime(2026, 3, 1, 8, tzinfo=UTC)) == datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
