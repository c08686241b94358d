"""A ticket's card in its service's Discord channel: what it shows and which buttons it
offers. The buttons are the workflow's moves for the ticket's staff now
(`tickets.workflow.allowed_moves`); pressing one is checked again by the service."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from ticket_service.config import Settings
from ticket_service.integrations.discord.texts import WORDS
from ticket_service.notifications.channels.discord import COLORS
from ticket_service.sla.schemas import sla_view
from ticket_service.tickets.models import Ticket
from ticket_service.tickets.workflow import allowed_moves
from ticket_service.users.models import User, display_name
from ticket_service.vocabulary import Priority, Status

# Button action → the status it moves the ticket to (the others are not status changes).
STATUS_ACTIONS: dict[str, Status] = {
    "processing": Status.processing,
    "waiting": Status.waiting,
    "close_success": Status.closed_success,
    "close_fail": Status.closed_fail,
}
ACTIONS = ("claim", *STATUS_ACTIONS, "reply", "note", "reopen", "rate")
_STYLE = {"claim": 1, "processing": 1, "waiting": 2, "close_success": 3, "close_fail": 4}


def custom_id(action: str, guid: object) -> str:
    return f"ticket:{action}:{guid}"


def web_link(settings: Settings, guid: object) -> str:
    return f"{settings.public_url.rstrip('/')}/tickets/{guid}"


def _person(user: User | None, nobody: str) -> str:
    if user is None:
        return nobody
    # A mention shows the name in Discord; allowed_mentions keeps it from pinging.
    return f"<@{user.discord_id}> ({display_name(user)})"


def card_actions(ticket: Ticket) -> list[str]:
    """The buttons, in order: claim while nobody has it, the workflow's moves, then reply
    and note while it is not closed."""
    current = Status(ticket.status)
    moves = set(allowed_moves(current, staff=True, is_author=False))
    actions = ["claim"] if ticket.assignee_id is None and not current.is_closed else []
    actions += [action for action, status in STATUS_ACTIONS.items() if status in moves]
    if not current.is_closed:
        actions += ["reply", "note"]
    return actions


def _sla_text(words: dict[str, str], locale: str, ticket: Ticket, now: datetime) -> str | None:
    """The card's SLA line: what was missed, paused, or the next due instant. A due instant
    is Discord's timestamp markup, which each reader's client shows in their own language
    and time zone (and as "in 2 hours"), so the card need not change as time passes."""
    sla = sla_view(ticket, now)
    if sla is None:
        return None
    parts = []
    if sla.breached:
        targets = ", ".join(target.label(locale) for target in sla.breached)
        parts.append(words["sla_breached"].format(targets=targets))
    if sla.paused:
        parts.append(words["sla_paused"])
    else:
        answered = sla.first_response_at is not None or sla.first_response_due_at is None
        due = sla.resolution_due_at if answered else sla.first_response_due_at
        if due is not None and ticket.closed_at is None:
            stamp = int(due.timestamp())
            parts.append(words["sla_due"].format(due=f"<t:{stamp}:f> (<t:{stamp}:R>)"))
    return "; ".join(parts) or None


def card(settings: Settings, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """The message payload of the card (ticket loaded with service, author, assignee);
    `now`: the database's clock, for the SLA line."""
    locale = settings.notify_locale
    words = WORDS[locale]
    status = Status(ticket.status)
    fields = [
        {"name": words["author"], "value": _person(ticket.author, ""), "inline": True},
        {
            "name": words["priority"],
            "value": Priority(ticket.priority).label(locale),
            "inline": True,
        },
        {"name": words["status"], "value": status.label(locale), "inline": True},
        {
            "name": words["assignee"],
            "value": _person(ticket.assignee, words["nobody"]),
            "inline": True,
        },
        {"name": words["service"], "value": ticket.service.name[:1024], "inline": True},
    ]
    sla_text = _sla_text(words, locale, ticket, now)
    if sla_text:
        fields.append({"name": words["sla"], "value": sla_text[:1024], "inline": False})
    if ticket.source_url:
        fields.append({"name": words["source"], "value": ticket.source_url, "inline": False})
    buttons = [
        {
            "type": 2,
            "style": _STYLE.get(action, 2),
            "label": words[action],
            "custom_id": custom_id(action, ticket.id),
        }
        for action in card_actions(ticket)
    ]
    rows = [{"type": 1, "components": buttons[i : i + 5]} for i in range(0, len(buttons), 5)]
    return {
        "embeds": [
            {
                "title": f"#{ticket.number}: {ticket.title}"[:256],
                "url": web_link(settings, ticket.id),
                "description": ticket.text[:1000],
                "color": COLORS.get(status, 0x3498DB),
                "fields": fields,
            }
        ],
        "components": rows,
        "allowed_mentions": {"parse": []},
    }


def payload_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
