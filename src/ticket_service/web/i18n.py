"""The web UI's languages: Babel message catalogs (`locales/<lang>/LC_MESSAGES/messages.po`),
read at start-up (no compile step), and dates in the person's time zone.

Russian first: a request without a language cookie gets the first of LOCALES its
`Accept-Language` names, else Russian.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import get_month_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from ticket_service.vocabulary import DEFAULT_LOCALE, LOCALES

LOCALE_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


@cache
def translations(locale: str) -> Translations:
    """The catalog of one language, compiled in memory from its .po file."""
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


_current: ContextVar[str] = ContextVar("web_locale", default=DEFAULT_LOCALE)


def use_locale(locale: str) -> None:
    """The language of the templates rendered next in this request."""
    _current.set(locale)


def gettext(message: str) -> str:
    return translations(_current.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ungettext(singular, plural, n)


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if we speak it, else the best of Accept-Language, else ru."""
    if cookie in LOCALES:
        return str(cookie)
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = tag.strip().split("-")[0].lower()
        if language in LOCALES and quality > 0:
            weighted.append((-quality, index, language))
    return sorted(weighted)[0][2] if weighted else DEFAULT_LOCALE


def time_zone(name: str | None, default: str) -> ZoneInfo:
    """The browser's zone (its cookie) when it is a real one, else the configured default."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


DATE_PATTERN = "d MMM y, HH:mm"


@cache
def _month_abbreviations(locale: str) -> dict[int, str]:
    return dict(get_month_names("abbreviated", context="format", locale=locale))


def format_date(value: datetime | None, zone: ZoneInfo, locale: str) -> str:
    """DATE_PATTERN in the person's zone and language ("30 нояб. 2026, 14:55"). Written
    out rather than Babel's `format_datetime` on each call: a list page shows fifty dates,
    and parsing and applying the pattern every time cost a tenth of the page's CPU
    (tests/web/test_i18n.py holds it to Babel's output)."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    month = _month_abbreviations(locale)[local.month]
    return f"{local.day} {month} {local.year}, {local.hour:02d}:{local.minute:02d}"


def format_duration(seconds: int) -> str:
    """A span in words of the current language, to the nearest minute: "2 д 3 ч",
    "1 ч 20 мин", "5 мин" (under a minute counts as one)."""
    minutes = max(1, (abs(seconds) + 30) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts: list[str] = []
    if days:
        parts.append(gettext("%(n)s d") % {"n": days})
    if hours:
        parts.append(gettext("%(n)s h") % {"n": hours})
    if minutes and not days:
        parts.append(gettext("%(n)s min") % {"n": minutes})
    return " ".join(parts)
