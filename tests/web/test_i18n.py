"""Dates in the pages: the hand-written formatter says exactly what Babel's pattern says,
in every month, both languages, across a zone's date line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from ticket_service.vocabulary import LOCALES
from ticket_service.web import i18n


@pytest.mark.parametrize("locale", sorted(LOCALES))
@pytest.mark.parametrize("zone", ["Europe/Moscow", "America/Los_Angeles", "UTC"])
def test_dates_read_as_babel_writes_them(locale: str, zone: str) -> None:
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, 21, 5, tzinfo=UTC)  # late UTC evening: another day east
    for month in range(12):
        value = start + timedelta(days=31 * month, minutes=7 * month)
        expected = format_datetime(value, i18n.DATE_PATTERN, tzinfo=tz, locale=locale)
        assert i18n.format_date(value, tz, locale) == expected


def test_known_russian_date() -> None:
    value = datetime(2026, 11, 30, 11, 55, tzinfo=UTC)
    assert i18n.format_date(value, ZoneInfo("Europe/Moscow"), "ru") == "30 нояб. 2026, 14:55"


def test_no_date_is_blank() -> None:
    assert i18n.format_date(None, ZoneInfo("UTC"), "ru") == ""
