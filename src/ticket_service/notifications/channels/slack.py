"""Slack incoming webhook: a Block Kit message."""

from __future__ import annotations

from typing import Any

import httpx

from ticket_service.notifications.channels.http import post_json
from ticket_service.notifications.messages import Message


def payload(message: Message) -> dict[str, Any]:
    v, labels = message.view, message.labels
    facts = [f"*{labels['service']}:* {v.service}", f"*{labels['priority']}:* {v.priority}"]
    if v.actor_name:
        facts.append(f"*{labels['by']}:* {v.actor_name}")
    return {
        "text": message.headline,  # shown in notifications and by clients without blocks
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.headline[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": labels["open"]},
                        "url": v.link,
                    }
                ],
            },
        ],
    }


async def send(client: httpx.AsyncClient, url: str, message: Message) -> None:
    await post_json(client, url, json=payload(message))
