"""What a notification says, in the reader's language, rendered once per delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ticket_service.events.registry import entry
from ticket_service.vocabulary import SlaTarget, Status

LABELS = {
    "ru": {
        "service": "Сервис",
        "by": "Кто",
        "priority": "Приоритет",
        "status": "Статус",
        "open": "Открыть",
        "nobody": "никто",
        "rate": "Оцените, как решили вашу заявку",
    },
    "en": {
        "service": "Service",
        "by": "By",
        "priority": "Priority",
        "status": "Status",
        "open": "Open",
        "nobody": "nobody",
        "rate": "How did we do? Rate the solution",
    },
}


@dataclass(frozen=True)
class EventView:
    """Everything a message may show, read from the database by the job."""

    event_id: int
    kind: str
    occurred_at: datetime
    guid_ticket: str
    number: int
    title: str
    # What the message shows: the reply or note for a comment, else the ticket's text.
    text: str
    status: str
    priority: str
    service: str
    author: str
    actor: str | None
    actor_name: str | None
    from_status: str | None
    to_status: str | None
    link: str
    comment_id: int | None = None
    internal: bool = False
    assignee: str | None = None  # the ticket's, now (Discord id)
    assigned_to: str | None = None  # whom an `assigned` event gave it to (Discord id)
    assigned_to_name: str | None = None
    # The author's e-mail address, and the web page where they rate the ticket: set when
    # the event closed it and it is still closed and unrated (the closing message invites).
    author_email: str | None = None
    rate_link: str | None = None
    target: str | None = None  # an SLA event's target (SlaTarget)


@dataclass(frozen=True)
class Message:
    view: EventView
    locale: str
    headline: str
    labels: dict[str, str]
    # Its reader is the ticket's author and it closed the ticket: invite a rating.
    invites_rating: bool = False

    def status_name(self, status: str | None) -> str:
        return status_name(status, self.locale)


def status_name(status: str | None, locale: str) -> str:
    try:
        return Status(status or "").label(locale)
    except ValueError:
        return status or ""


def target_name(target: str | None, locale: str) -> str:
    try:
        return SlaTarget(target or "").label(locale)
    except ValueError:
        return target or ""


def _one_line(text: str | None) -> str:
    # The headline is an e-mail Subject and a Slack/Discord title: text with line breaks
    # must neither fail the send nor add mail headers.
    return " ".join((text or "").split())


def for_author(view: EventView, channel: str, recipient: str) -> bool:
    """Whether a delivery (channel, recipient) goes to the ticket's author personally."""
    if channel == "discord_dm":
        return recipient == view.author
    return channel == "email" and recipient == (view.author_email or "").lower()


def render(view: EventView, locale: str, *, to_author: bool = False) -> Message:
    """The message in `locale`; `to_author`: its reader is the ticket's author."""
    labels = LABELS[locale]
    headline = (
        entry(view.kind)
        .headline[locale]
        .format(
            number=view.number,
            title=_one_line(view.title),
            old=status_name(view.from_status, locale),
            new=status_name(view.to_status, locale),
            actor=_one_line(view.actor_name or view.actor) or "—",
            assignee=_one_line(view.assigned_to_name or view.assigned_to) or labels["nobody"],
            target=target_name(view.target, locale),
        )
    )
    return Message(
        view=view,
        locale=locale,
        headline=headline,
        labels=labels,
        invites_rating=to_author and view.rate_link is not None,
    )


@lru_cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("ticket_service.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        enable_async=True,
    )


async def email_bodies(message: Message) -> tuple[str, str]:
    """(text, html) bodies of the e-mail, from the locale's templates."""
    context: dict[str, Any] = {"m": message, "v": message.view, "l": message.labels}
    env = _templates()
    text = await env.get_template(f"{message.locale}/email.txt").render_async(context)
    html = await env.get_template(f"{message.locale}/email.html").render_async(context)
    return text, html
