"""Discord: a channel webhook (embeds) and direct messages through a bot."""

from __future__ import annotations

from typing import Any

import httpx

from ticket_service.kit.discord_rest import DiscordError, RateLimited, bot_client
from ticket_service.notifications.channels import PermanentFailure, TemporaryFailure
from ticket_service.notifications.channels.http import post_json
from ticket_service.notifications.messages import Message
from ticket_service.vocabulary import Status

COLORS: dict[str, int] = {
    Status.open: 0x3498DB,
    Status.processing: 0xF1C40F,
    Status.waiting: 0xE67E22,
    Status.closed_success: 0x2ECC71,
    Status.closed_fail: 0x95A5A6,
}


def embed(message: Message) -> dict[str, Any]:
    v, labels = message.view, message.labels
    fields = [
        {"name": labels["service"], "value": v.service, "inline": True},
        {"name": labels["priority"], "value": v.priority, "inline": True},
    ]
    if v.actor_name:
        fields.append({"name": labels["by"], "value": v.actor_name, "inline": True})
    description = v.text[:500]
    if message.invites_rating:
        description += f"\n\n{labels['rate']}: {v.rate_link}"
    return {
        "title": message.headline[:256],
        "url": v.link,
        "description": description,
        "color": COLORS.get(v.status, 0x3498DB),
        "fields": fields,
        "timestamp": v.occurred_at.isoformat(),
    }


async def send_webhook(client: httpx.AsyncClient, url: str, message: Message) -> None:
    await post_json(
        client, url, json={"embeds": [embed(message)], "allowed_mentions": {"parse": []}}
    )


# What the buttons of a closed ticket say to its author (integrations/discord handles them).
AFTER_CLOSE = {
    "ru": {"reopen": "Открыть снова", "rate": "Оцените решение"},
    "en": {"reopen": "Reopen", "rate": "Rate the solution"},
}


def dm_components(message: Message, user_id: str) -> list[dict[str, Any]]:
    """After a close, the author's message offers to reopen the ticket and to rate it
    (custom ids `ticket:reopen:<guid>`, `ticket:rate:<guid>`)."""
    v = message.view
    if user_id != v.author or not Status(v.status).is_closed:
        return []
    words = AFTER_CLOSE[message.locale]
    reopen = {
        "type": 2,
        "style": 2,
        "label": words["reopen"],
        "custom_id": f"ticket:reopen:{v.guid_ticket}",
    }
    rate = {
        "type": 3,
        "custom_id": f"ticket:rate:{v.guid_ticket}",
        "placeholder": words["rate"],
        "options": [{"label": "★" * n, "value": str(n)} for n in range(1, 6)],
    }
    return [{"type": 1, "components": [reopen]}, {"type": 1, "components": [rate]}]


async def send_dm(
    client: httpx.AsyncClient, api_base: str, bot_token: str, user_id: str, message: Message
) -> None:
    """Through the bot's one rate-limited client (kit/discord_rest.py)."""
    rest = bot_client(client, api_base, bot_token)
    payload: dict[str, Any] = {"embeds": [embed(message)], "allowed_mentions": {"parse": []}}
    components = dm_components(message, user_id)
    if components:
        payload["components"] = components
    try:
        channel_id = await rest.open_dm(user_id)
        await rest.create_message(channel_id, payload)
    except RateLimited as exc:
        raise TemporaryFailure(str(exc), retry_after=exc.retry_after) from exc
    except DiscordError as exc:
        if exc.temporary:
            raise TemporaryFailure(str(exc)) from exc
        raise PermanentFailure(str(exc)) from exc
