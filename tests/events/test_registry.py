"""The event registry is complete: every kind renders in every language and names its
webhook type, and a kind nobody registered is refused before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticket_service.events.registry import REGISTRY, STAFF_ONLY_KINDS, Kind, entry
from ticket_service.notifications.messages import EventView, render
from ticket_service.vocabulary import LOCALES


def view(kind: Kind) -> EventView:
    return EventView(
        event_id=1,
        kind=kind.value,
        occurred_at=datetime.now(UTC),
        guid_ticket="9d7d",
        number=42,
        title="Не работает\nVPN",
        text="текст",
        status="processing",
        priority="high",
        service="IT",
        author="1001",
        actor="2001",
        actor_name="Агент Смит",
        from_status="open",
        to_status="waiting",
        link="http://x/1",
        assigned_to="2001",
        assigned_to_name="Агент Смит",
    )


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_kind_has_a_one_line_headline_in_every_language(kind, locale):
    headline = render(view(kind), locale).headline
    assert "#42" in headline
    assert "\n" not in headline
    assert "{" not in headline


def test_headlines_name_statuses_and_people_in_the_readers_language():
    assert render(view(Kind.status_changed), "ru").headline == (
        "Заявка #42: Открыта → Ждёт ответа автора"
    )
    assert render(view(Kind.status_changed), "en").headline == (
        "Ticket #42: Open → Waiting for the author"
    )
    assert "Агент Смит" in render(view(Kind.assigned), "ru").headline


def test_every_kind_has_a_webhook_type_and_a_visibility():
    assert set(REGISTRY) == set(Kind)
    for spec in REGISTRY.values():
        noun, _, verb = spec.webhook_type.partition(".")
        assert noun in ("ticket", "comment")
        assert verb
    # Internal notes and the old text of an edited comment are for staff only.
    # SLA escalations are for the staff too.
    assert {"noted", "comment_edited", "sla_warning", "sla_breached"} == STAFF_ONLY_KINDS


def test_an_unregistered_kind_is_refused():
    with pytest.raises(ValueError, match="bogus"):
        entry("bogus")


def test_sla_headlines_name_the_target_in_the_readers_language():
    import dataclasses

    warning = dataclasses.replace(view(Kind.sla_warning), target="first_response")
    assert render(warning, "ru").headline == "Заявка #42: использовано 80% срока SLA (первый ответ)"
    breach = dataclasses.replace(view(Kind.sla_breached), target="resolution")
    assert render(breach, "en").headline == "Ticket #42: SLA breached (resolution)"
