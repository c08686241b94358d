"""Buttons and selects: `ticket:<action>:<guid_ticket>` on a card or under a direct
message. A status button changes the status through tickets.service (which checks the
workflow and the person's rights) and acknowledges with a deferred update: the card is
edited by its job once the change is committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ticket_service.integrations.discord.cards import STATUS_ACTIONS
from ticket_service.integrations.discord.interactions import (
    DEFERRED_UPDATE,
    MODAL,
    Context,
    Refused,
    ephemeral,
    parse_guid,
)
from ticket_service.integrations.discord.texts import say
from ticket_service.ratings import service as ratings
from ticket_service.tickets import service as tickets
from ticket_service.tickets.workflow import check_transition
from ticket_service.vocabulary import Status

ButtonHandler = Callable[[Context, str], Awaitable[dict[str, Any]]]


def text_modal(ctx: Context, custom_id: str, title_key: str, field_key: str) -> dict[str, Any]:
    field = {
        "type": 4,
        "custom_id": field_key,
        "style": 2,
        "label": say(ctx.locale, field_key),
        "required": field_key != "reason",
        "max_length": 1000 if field_key == "reason" else 4000,
    }
    return {
        "type": MODAL,
        "data": {
            "custom_id": custom_id,
            "title": say(ctx.locale, title_key)[:45],
            "components": [{"type": 1, "components": [field]}],
        },
    }


async def move(ctx: Context, action: str, guid_text: str) -> dict[str, Any]:
    guid = parse_guid(ctx, guid_text)
    await tickets.change_status(
        ctx.session, ctx.acting(), guid, STATUS_ACTIONS[action].value, ctx.record.guid_action
    )
    return {"type": DEFERRED_UPDATE}


async def close_fail(ctx: Context, guid_text: str) -> dict[str, Any]:
    """Ask why, after checking the person may close it (no modal only to be refused)."""
    guid = parse_guid(ctx, guid_text)
    user = ctx.acting()
    ticket, staff = await tickets.get_ticket_as(ctx.session, user, guid)
    check_transition(
        Status(ticket.status), Status.closed_fail, staff, is_author=ticket.author_id == user.id
    )
    return text_modal(ctx, f"reason:close_fail:{guid}", "reason_title", "reason")


async def reopen(ctx: Context, guid_text: str) -> dict[str, Any]:
    guid = parse_guid(ctx, guid_text)
    await tickets.change_status(
        ctx.session, ctx.acting(), guid, Status.open.value, ctx.record.guid_action
    )
    return ephemeral(say(ctx.locale, "done"))


async def rate(ctx: Context, guid_text: str) -> dict[str, Any]:
    """The author's choice in the DM's select, stored by the one rating rule (a second
    choice is refused: `already_rated`)."""
    guid = parse_guid(ctx, guid_text)
    values = ctx.data.get("values") or []
    if not values or str(values[0]) not in {"1", "2", "3", "4", "5"}:
        raise Refused(say(ctx.locale, "unknown"), code="invalid_rating")
    score = int(values[0])
    ctx.record.params["rating"] = score
    await ratings.rate(ctx.session, ctx.acting(), guid, score, None, ctx.record.guid_action)
    return ephemeral(say(ctx.locale, "rated", stars="★" * score))


# Buttons handled in other modules (assignment: claim; conversation: reply, note).
BUTTONS: dict[str, ButtonHandler] = {
    "close_fail": close_fail,
    "reopen": reopen,
    "rate": rate,
}


async def component(ctx: Context) -> dict[str, Any]:
    parts = str(ctx.data.get("custom_id") or "").split(":")
    if len(parts) != 3 or parts[0] != "ticket":
        ctx.record.type = "discord_unknown"
        raise Refused(say(ctx.locale, "unknown"), code="unknown_component")
    action, guid_text = parts[1], parts[2]
    ctx.record.type = f"discord_{action}"[:64]
    ctx.record.params = {"action": action}
    if action in STATUS_ACTIONS and action != "close_fail":
        return await move(ctx, action, guid_text)
    handler = BUTTONS.get(action)
    if handler is None:
        raise Refused(say(ctx.locale, "later"), code="unavailable")
    return await handler(ctx, guid_text)
