"""Slack incoming webhook: a Block Kit message."""

from __future__ import annotations

from typing import Any

import httpx

from ticket_service.notifications.channels.http import post_json
from ticket_service.notifications.messages import Message


def escape(text: str) -> str:
    """Slack parses &, < and > in mrkdwn (`<!channel>`, `<@U…>`, links): user text must not."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def payload(message: Message) -> dict[str, Any]:
    v, labels = message.view, message.labels
    facts = [
        f"*{labels['service']}:* {escape(v.service)}",
        f"*{labels['priority']}:* {escape(v.priority)}",
    ]
    if v.actor_name:
        facts.append(f"*{labels['by']}:* {escape(v.actor_name)}")
    said = []
    if v.comment_id is not None:  # what was said is the message (Slack: 3000 per block)
        said = [{"type": "section", "text": {"type": "plain_text", "text": v.text[:2900]}}]
    return {
        # Shown in notifications and by clients without blocks; mrkdwn, hence escaped.
        "text": escape(message.headline),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.headline[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}},
            *said,
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
