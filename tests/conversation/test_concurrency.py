"""Replies written at the same moment all land: the ticket row is locked, not raced."""

from __future__ import annotations

import asyncio

from tests.conversation.conftest import comment, comments_seen, history
from tests.factories import open_ticket
from tests.notifications.receivers import changed


async def test_simultaneous_replies_all_count_and_the_wait_ends_once(client, staff, sql):
    ticket = await open_ticket(client, staff.author.headers)
    guid = ticket["guid_ticket"]
    await changed(client, staff.agent.headers, guid, "processing")
    waiting = await changed(client, staff.agent.headers, guid, "waiting")

    writers = [staff.author, staff.agent, staff.admin] * 3
    responses = await asyncio.gather(
        *(comment(client, w.headers, guid, f"ответ {n}") for n, w in enumerate(writers))
    )

    assert [r.status_code for r in responses] == [201] * len(writers)
    assert len(await comments_seen(client, staff.author.headers, guid)) == len(writers)
    assert sql("SELECT public_comments, version, status FROM tickets") == [
        (len(writers), waiting["version"] + len(writers), "processing")
    ]
    moves = [
        e for e in await history(client, staff.agent.headers, guid) if e["from_status"] == "waiting"
    ]
    assert [m["data"] for m in moves] == [{"reason": "author_replied"}]
