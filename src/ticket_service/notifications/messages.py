"""What a notification says, in the reader's language, rendered once per delivery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

STATUS_NAMES = {
    "ru": {
        "open": "Открыта",
        "processing": "В работе",
        "closed_success": "Выполнена",
        "closed_fail": "Закрыта без решения",
    },
    "en": {
        "open": "Open",
        "processing": "In progress",
        "closed_success": "Done",
        "closed_fail": "Closed unresolved",
    },
}

HEADLINES = {
    "ru": {
        "opened": "Новая заявка #{number}: {title}",
        "status_changed": "Заявка #{number}: {old} → {new}",
    },
    "en": {
        "opened": "New ticket #{number}: {title}",
        "status_changed": "Ticket #{number}: {old} → {new}",
    },
}

LABELS = {
    "ru": {"service": "Сервис", "by": "Кто", "priority": "Приоритет", "open": "Открыть"},
    "en": {"service": "Service", "by": "By", "priority": "Priority", "open": "Open"},
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


@dataclass(frozen=True)
class Message:
    view: EventView
    locale: str
    headline: str
    labels: dict[str, str]

    def status_name(self, status: str | None) -> str:
        return STATUS_NAMES[self.locale].get(status or "", status or "")


def render(view: EventView, locale: str) -> Message:
    names = STATUS_NAMES[locale]
    headline = HEADLINES[locale][view.kind].format(
        number=view.number,
        # One line: the headline is an e-mail Subject and a Slack/Discord title, and a title
        # sent with line breaks must neither fail the send nor add mail headers.
        title=" ".join(view.title.split()),
        old=names.get(view.from_status or "", view.from_status),
        new=names.get(view.to_status or "", view.to_status),
    )
    return Message(view=view, locale=locale, headline=headline, labels=LABELS[locale])


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
