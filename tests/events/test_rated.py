"""The `rated` event: public (the author sees their rating in the history), heard by the
assignee and the team, named in each language and as a webhook type."""

from __future__ import annotations

from dataclasses import replace

from tests.events.test_registry import view
from ticket_service.events.registry import REGISTRY, STAFF_ONLY_KINDS, Audience, Kind
from ticket_service.notifications.messages import render


def test_rated_is_public_and_told_to_the_assignee_and_team():
    spec = REGISTRY[Kind.rated]
    assert "rated" not in STAFF_ONLY_KINDS
    assert spec.audience == {Audience.assignee, Audience.team}
    assert spec.webhook_type == "ticket.rated"


def test_rated_headline_names_who_rated_in_the_readers_language():
    rated = replace(view(Kind.rated), actor_name="Алиса")
    assert render(rated, "ru").headline == "Заявка #42: Алиса оценил(а) решение"
    assert render(rated, "en").headline == "Ticket #42: Алиса rated the solution"


def test_only_the_author_of_a_closing_message_is_invited():
    closing = replace(
        view(Kind.status_changed),
        to_status="closed_success",
        author_email="alice@1440.test",
        rate_link="https://tickets.1440.test/tickets/9d7d",
    )
    assert render(closing, "ru", to_author=True).invites_rating
    assert not render(closing, "ru", to_author=False).invites_rating
    unrated_link = replace(closing, rate_link=None)  # rated or reopened meanwhile
    assert not render(unrated_link, "ru", to_author=True).invites_rating
