"""Discord: a channel webhook (embeds) and direct messages through a bot."""

from __future__ import annotations

from typing import Any

import httpx

from ticket_service.notifications.channels import PermanentFailure
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
    return {
        "title": message.headline[:256],
        "url": v.link,
        "description": v.text[:500],
        "color": COLORS.get(v.status, 0x3498DB),
        "fields": fields,
        "timestamp": v.occurred_at.isoformat(),
    }


async def send_webhook(client: httpx.AsyncClient, url: str, message: Message) -> None:
    await post_json(
        client, url, json={"embeds": [embed(message)], "allowed_mentions": {"parse": []}}
    )


async def send_dm(
    client: httpx.AsyncClient, api_base: str, bot_token: str, user_id: str, message: Message
) -> None:
    headers = {"Authorization": f"Bot {bot_token}"}
    opened = await post_json(
        client, f"{api_base}/users/@me/channels", json={"recipient_id": user_id}, headers=headers
    )
    channel_id = opened.json().get("id")
    if not channel_id:
        raise PermanentFailure("Discord did not open a DM channel")
    await post_json(
        client,
        f"{api_base}/channels/{channel_id}/messages",
        json={"embeds": [embed(message)], "allowed_mentions": {"parse": []}},
        headers=headers,
    )
