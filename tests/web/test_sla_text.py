"""The words of the SLA in the pages: the time left in each language, and the `at_risk`
mark of one ticket (the same rule as the `sla=at_risk` filter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from ticket_service.sla.schemas import sla_view
from ticket_service.web import i18n
from ticket_service.web.pages import Page

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "seconds", "text"),
    [
        ("ru", 80 * 60, "1 ч 20 мин"),
        ("ru", -(80 * 60 + 29), "1 ч 20 мин"),  # overdue: the same words, said as such
        ("ru", 5, "1 мин"),  # under a minute still shows
        ("ru", 3 * 86400 + 2 * 3600 + 59, "3 д 2 ч"),  # days leave the minutes out
        ("en", 2 * 3600, "2 h"),
        ("en", 86400 + 90, "1 d"),
    ],
)
def test_time_left_in_words(locale: str, seconds: int, text: str) -> None:
    i18n.use_locale(locale)
    assert i18n.format_duration(seconds) == text


def _ticket(**changes: object) -> SimpleNamespace:
    """Under a policy: first response due in 1 h (warned 12 min before), resolution due in
    10 h (warned at 8 h), clock running, nothing warned or missed yet."""
    values: dict[str, object] = {
        "sla_policy_id": 1,
        "status": "open",
        "first_response_at": None,
        "first_response_due_at": NOW + timedelta(hours=1),
        "first_response_warn_at": NOW + timedelta(minutes=48),
        "closed_at": None,
        "sla_clock_started_at": NOW - timedelta(minutes=1),
        "sla_resolution_seconds": 36000,
        "sla_used_seconds": 0,
        "resolution_due_at": NOW + timedelta(hours=10),
        "resolution_warn_at": NOW + timedelta(hours=8),
    }
    values.update(changes)
    return SimpleNamespace(**values)


def test_at_risk_follows_the_warning_instants() -> None:
    assert sla_view(_ticket(), NOW).at_risk is False  # type: ignore[union-attr]
    first = _ticket(first_response_warn_at=NOW - timedelta(minutes=1))
    assert sla_view(first, NOW).at_risk is True  # type: ignore[union-attr]
    answered = _ticket(first_response_warn_at=NOW, first_response_at=NOW)
    assert sla_view(answered, NOW).at_risk is False  # type: ignore[union-attr]
    resolution = _ticket(first_response_at=NOW, resolution_warn_at=NOW)
    assert sla_view(resolution, NOW).at_risk is True  # type: ignore[union-attr]
    # A missed target is "breached", not "at risk".
    missed = _ticket(first_response_due_at=NOW - timedelta(seconds=1), first_response_warn_at=NOW)
    view = sla_view(missed, NOW)
    assert view is not None
    assert view.breached == ["first_response"]
    assert view.at_risk is False
    # Paused (waiting): no running clock, not at risk whatever its old warning said.
    paused = _ticket(
        status="waiting",
        first_response_at=NOW,
        sla_clock_started_at=None,
        resolution_due_at=None,
        resolution_warn_at=None,
        sla_used_seconds=35000,
    )
    assert sla_view(paused, NOW).at_risk is False  # type: ignore[union-attr]


def _cell(ticket: SimpleNamespace, locale: str = "ru") -> str:
    """A queue row's due cell for the ticket, as the page renders it (Moscow time)."""
    page = Page(
        request=None,  # type: ignore[arg-type]
        settings=None,  # type: ignore[arg-type]
        locale=locale,
        zone=ZoneInfo("Europe/Moscow"),
        csrf_secret="",
    )
    i18n.use_locale(locale)
    view = sla_view(ticket, NOW)
    assert view is not None
    return str(page.sla_due(view))


def test_the_due_cell_says_when_how_long_and_how_urgent() -> None:
    assert _cell(_ticket()) == (
        '<time datetime="2026-11-30T22:00:00+00:00">1 дек. 2026, 01:00</time><br>'
        '<span class="hint">осталось 10 ч</span> '
    )
    at_risk = _cell(_ticket(first_response_warn_at=NOW), "en")
    assert at_risk.endswith(
        '<span class="hint">10 h left</span> <strong class="sla sla-at-risk">SLA at risk</strong>'
    )
    overdue = _ticket(
        resolution_due_at=NOW - timedelta(minutes=5), first_response_at=NOW - timedelta(hours=2)
    )
    assert _cell(overdue).endswith(
        'просрочено на 5 мин</span> <strong class="sla sla-breached">SLA нарушен</strong>'
    )
    paused = _ticket(status="waiting", sla_clock_started_at=None, resolution_due_at=None)
    assert _cell(paused) == '<span class="hint">осталось 10 ч</span> ' + (
        '<span class="sla sla-paused">на паузе</span>'
    )
    # Closed: no clock runs, nothing is left or overdue; a target missed stays said.
    closed = _ticket(status="closed_success", closed_at=NOW, resolution_due_at=None)
    assert _cell(closed) == '<span class="hint"></span> '
