"""Generic signed webhooks: a JSON event any system can consume.

Receivers verify `X-Ticket-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`
keyed with WEBHOOK_SECRET, reject stale `X-Ticket-Timestamp`s, and de-duplicate on
`X-Ticket-Event-Id` (the same for every attempt and every receiver of one event).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from ticket_service.events.registry import entry
from ticket_service.notifications.channels.http import post_json
from ticket_service.notifications.messages import Message


def body(message: Message) -> dict[str, Any]:
    v = message.view
    document: dict[str, Any] = {
        "id": str(v.event_id),
        "type": entry(v.kind).webhook_type,
        "occurred_at": v.occurred_at.isoformat(),
        "actor": v.actor,
        "from_status": v.from_status,
        "to_status": v.to_status,
        "ticket": {
            "guid_ticket": v.guid_ticket,
            "number": v.number,
            "title": v.title,
            "status": v.status,
            "priority": v.priority,
            "service": v.service,
            "author": v.author,
            "assignee": v.assignee,
            "url": v.link,
        },
    }
    if v.kind == "assigned":
        document["assignee"] = v.assigned_to
    if v.comment_id is not None:
        document["comment"] = {"id": v.comment_id, "body": v.text, "internal": v.internal}
    return document


def signature(secret: str, timestamp: str, raw: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


async def send(client: httpx.AsyncClient, url: str, secret: str, message: Message) -> None:
    raw = json.dumps(body(message), ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Ticket-Event-Id": str(message.view.event_id),
        "X-Ticket-Timestamp": timestamp,
        "X-Ticket-Signature": signature(secret, timestamp, raw),
    }
    await post_json(client, url, content=raw, headers=headers)
