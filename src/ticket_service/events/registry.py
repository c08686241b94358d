"""Every kind of ticket event, in one table: who may see it, who hears about it, what it
is called in each language and as a webhook type.

Recipients, message headlines, webhook types and the visibility of history rows are all
derived from here. Adding a kind is one entry (and, if its message needs more than the
headline, a template), nothing else. A kind without an entry fails at import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ticket_service.vocabulary import LOCALES


class Kind(enum.StrEnum):
    opened = "opened"
    status_changed = "status_changed"
    commented = "commented"  # a public reply, by the author or staff
    noted = "noted"  # an internal note: staff only
    comment_edited = "comment_edited"  # the previous text stays in the history, for staff
    assigned = "assigned"  # to someone, or to nobody (`data.assignee` null)
    rated = "rated"  # the author rated the closed ticket (`data.score`)
    # The SLA scanner (sla/scanner.py), once per ticket and `data.target` (SlaTarget).
    sla_warning = "sla_warning"  # 80% of the target used
    sla_breached = "sla_breached"  # 100%
    auto_close_warning = "auto_close_warning"  # a waiting ticket closes in a business day
    auto_closed = "auto_closed"  # ...and now it did (closed_fail)


class Visibility(enum.StrEnum):
    public = "public"  # the author and the ticket's staff
    staff = "staff"  # the ticket's staff only: never an employee, never a channel not marked safe


class Audience(enum.StrEnum):
    """Who hears about an event. The person who caused it never does."""

    author = "author"  # personally: e-mail, Discord DM
    assignee = "assignee"
    followers = "followers"
    # The service's team channels: Slack, the Discord channel webhook, its e-mail list.
    team = "team"
    # The team channels only when nobody owns the ticket and its author spoke: somebody
    # must pick up what the employee said.
    team_if_unowned = "team_if_unowned"
    webhooks = "webhooks"  # the integrations of WEBHOOK_URLS
    admins = "admins"  # every admin, personally (an SLA breach)


@dataclass(frozen=True)
class EventKind:
    kind: Kind
    visibility: Visibility
    audience: frozenset[Audience]
    # Format fields: number, title, old, new (status names), actor, assignee, target (the
    # SLA target's name).
    headline: dict[str, str]
    webhook_type: str

    @property
    def staff_only(self) -> bool:
        return self.visibility is Visibility.staff


A = Audience
_PEOPLE = frozenset({A.assignee, A.followers})

REGISTRY: dict[Kind, EventKind] = {
    e.kind: e
    for e in (
        EventKind(
            Kind.opened,
            Visibility.public,
            frozenset({A.team, A.webhooks}),
            {
                "ru": "Новая заявка #{number}: {title}",
                "en": "New ticket #{number}: {title}",
            },
            "ticket.opened",
        ),
        EventKind(
            Kind.status_changed,
            Visibility.public,
            frozenset({A.author, *_PEOPLE, A.team, A.webhooks}),
            {
                "ru": "Заявка #{number}: {old} → {new}",
                "en": "Ticket #{number}: {old} → {new}",
            },
            "ticket.status_changed",
        ),
        EventKind(
            Kind.commented,
            Visibility.public,
            frozenset({A.author, *_PEOPLE, A.team_if_unowned, A.webhooks}),
            {
                "ru": "Заявка #{number}: ответ от {actor}",
                "en": "Ticket #{number}: reply from {actor}",
            },
            "comment.created",
        ),
        EventKind(
            Kind.noted,
            Visibility.staff,
            frozenset({*_PEOPLE, A.webhooks}),
            {
                "ru": "Заявка #{number}: внутренняя заметка от {actor}",
                "en": "Ticket #{number}: internal note from {actor}",
            },
            "comment.created",
        ),
        EventKind(
            Kind.comment_edited,
            Visibility.staff,
            frozenset({A.webhooks}),
            {
                "ru": "Заявка #{number}: {actor} исправил(а) комментарий",
                "en": "Ticket #{number}: {actor} edited a comment",
            },
            "comment.edited",
        ),
        EventKind(
            Kind.assigned,
            Visibility.public,
            frozenset({*_PEOPLE, A.webhooks}),
            {
                "ru": "Заявка #{number} назначена: {assignee}",
                "en": "Ticket #{number} assigned to {assignee}",
            },
            "ticket.assigned",
        ),
        # Public: the author sees their own rating in the history. Heard by whoever worked
        # it and the team, who answer "are people happy".
        EventKind(
            Kind.rated,
            Visibility.public,
            frozenset({A.assignee, A.team}),
            {
                "ru": "Заявка #{number}: {actor} оценил(а) решение",
                "en": "Ticket #{number}: {actor} rated the solution",
            },
            "ticket.rated",
        ),
        EventKind(
            Kind.sla_warning,
            Visibility.staff,
            frozenset({A.assignee, A.team}),
            {
                "ru": "Заявка #{number}: использовано 80% срока SLA ({target})",
                "en": "Ticket #{number}: 80% of the SLA time used ({target})",
            },
            "ticket.sla_warning",
        ),
        EventKind(
            Kind.sla_breached,
            Visibility.staff,
            frozenset({A.assignee, A.team, A.admins}),
            {
                "ru": "Заявка #{number}: SLA нарушен ({target})",
                "en": "Ticket #{number}: SLA breached ({target})",
            },
            "ticket.sla_breached",
        ),
        EventKind(
            Kind.auto_close_warning,
            Visibility.public,
            frozenset({A.author}),
            {
                "ru": "Заявка #{number} ждёт вашего ответа и скоро закроется автоматически",
                "en": "Ticket #{number} awaits your answer and will soon be closed automatically",
            },
            "ticket.auto_close_warning",
        ),
        EventKind(
            Kind.auto_closed,
            Visibility.public,
            frozenset({A.author, *_PEOPLE, A.team, A.webhooks}),
            {
                "ru": "Заявка #{number} закрыта автоматически: автор не ответил",
                "en": "Ticket #{number} closed automatically: no answer from the author",
            },
            "ticket.auto_closed",
        ),
    )
}


def _complete() -> None:
    missing = set(Kind) - set(REGISTRY)
    if missing:
        raise RuntimeError(f"event kinds without a registry entry: {sorted(missing)}")
    for entry in REGISTRY.values():
        if set(entry.headline) != set(LOCALES):
            raise RuntimeError(f"{entry.kind}: a headline for each of {LOCALES} is required")


_complete()


def entry(kind: str) -> EventKind:
    """The registry entry of a stored kind. A kind we never registered is a bug of ours,
    caught by the tests, never a half-sent notification."""
    return REGISTRY[Kind(kind)]


STAFF_ONLY_KINDS: frozenset[str] = frozenset(k.value for k, e in REGISTRY.items() if e.staff_only)
