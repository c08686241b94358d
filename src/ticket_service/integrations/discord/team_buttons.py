"""`claim`, `reply` and `note`: the card's buttons served by the assignment and
conversation services. Registered into the button and modal tables on import (router.py
imports this module); the services are imported when a button is pressed."""

from __future__ import annotations

from typing import Any

from ticket_service.integrations.discord.buttons import BUTTONS, text_modal
from ticket_service.integrations.discord.interactions import (
    DEFERRED_UPDATE,
    MODALS,
    Context,
    ephemeral,
    modal_values,
    parse_guid,
)
from ticket_service.integrations.discord.texts import say
from ticket_service.tickets import service as tickets

BODY_MAX = 4000


async def claim(ctx: Context, guid_text: str) -> dict[str, Any]:
    """Take the ticket; 409 `already_assigned` (someone was first) is the refusal."""
    from ticket_service.assignment.service import claim as claim_ticket

    guid = parse_guid(ctx, guid_text)
    await claim_ticket(ctx.session, ctx.acting(), guid, ctx.record.guid_action)
    return {"type": DEFERRED_UPDATE}


async def ask_reply(ctx: Context, guid_text: str) -> dict[str, Any]:
    guid = parse_guid(ctx, guid_text)
    await tickets.get_ticket(ctx.session, ctx.acting(), guid)  # not visible: no modal
    return text_modal(ctx, f"reply:{guid}", "reply_title", "body")


async def ask_note(ctx: Context, guid_text: str) -> dict[str, Any]:
    guid = parse_guid(ctx, guid_text)
    await tickets.get_ticket(ctx.session, ctx.acting(), guid)
    return text_modal(ctx, f"note:{guid}", "note_title", "body")


async def comment_submitted(ctx: Context, parts: list[str]) -> dict[str, Any]:
    """`reply:<guid>` / `note:<guid>`: the conversation service decides who may write
    what (a note only by the ticket's staff) and who sees it."""
    from ticket_service.conversation.service import add_comment

    internal = parts[0] == "note"
    ctx.record.type = "discord_note" if internal else "discord_reply"
    guid = parse_guid(ctx, parts[1])
    body = modal_values(ctx.data.get("components")).get("body", "")[:BODY_MAX]
    await add_comment(ctx.session, ctx.acting(), guid, body, internal, ctx.record.guid_action)
    return ephemeral(say(ctx.locale, "done"))


BUTTONS.update({"claim": claim, "reply": ask_reply, "note": ask_note})
MODALS.update({"reply": comment_submitted, "note": comment_submitted})
