"""Who may reply, who may write and read internal notes; a note never reaches a
non-staff reader: not in the conversation, the history, the ticket or the action log."""

from __future__ import annotations

import json

import pytest

from tests.conversation.conftest import (
    comment,
    commented,
    comments_seen,
    history,
)
from tests.factories import open_ticket
from ticket_service.ops.action_log import action_key

NOTE = "Похоже на проблему с сертификатом, проверю на сервере"


async def test_the_author_and_staff_reply_and_read_the_conversation_oldest_first(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]

    mine = await commented(client, staff.author.headers, guid, "С утра не работает")
    theirs = await commented(client, staff.agent.headers, guid, "Перезагрузите роутер")
    admins = await commented(client, staff.admin.headers, guid, "Подключил сеть заново")

    assert mine["author"] == {"discord_id": staff.author.discord_id, "name": "user1001"}
    assert mine["internal"] is False
    assert mine["edited_at"] is None
    assert set(mine) == {"id", "author", "body", "internal", "created_at", "edited_at", "etag"}
    for reader in (staff.author, staff.agent, staff.admin):
        seen = await comments_seen(client, reader.headers, guid)
        assert [c["body"] for c in seen] == [
            "С утра не работает",
            "Перезагрузите роутер",
            "Подключил сеть заново",
        ]
        assert [c["id"] for c in seen] == [mine["id"], theirs["id"], admins["id"]]
        assert [c["author"]["discord_id"] for c in seen] == ["1001", "2001", "3001"]


async def test_created_comment_has_a_location(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    response = await comment(client, staff.agent.headers, guid)
    assert response.status_code == 201
    assert response.headers["Location"] == (
        f"/api/v1/tickets/{guid}/comments/{response.json()['id']}"
    )


async def test_another_employee_cannot_find_the_ticket_to_talk_on(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    reply = await commented(client, staff.agent.headers, guid)
    intruder = staff.other_employee.headers

    for response in (
        await comment(client, intruder, guid),
        await comment(client, intruder, guid, internal=True),
        await client.get(f"/api/v1/tickets/{guid}/comments", headers=intruder),
        await client.patch(
            f"/api/v1/tickets/{guid}/comments/{reply['id']}", json={"body": "x"}, headers=intruder
        ),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "ticket_not_found"
    assert len(await comments_seen(client, staff.agent.headers, guid)) == 1


async def test_only_staff_write_internal_notes(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]

    refused = await comment(client, staff.author.headers, guid, NOTE, internal=True)

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "notes_staff_only"
    assert await comments_seen(client, staff.agent.headers, guid) == []
    for writer in (staff.agent, staff.admin):
        note = await commented(client, writer.headers, guid, NOTE, internal=True)
        assert note["internal"] is True


async def test_an_internal_note_is_seen_by_staff_only(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    reply = await commented(client, staff.agent.headers, guid, "Перезагрузите роутер")
    row_before = (await client.get("/api/v1/tickets", headers=staff.author.headers)).json()
    one_before = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()

    note = await commented(client, staff.agent.headers, guid, NOTE, internal=True)

    # The author: not in the conversation, not in the history ...
    seen = await comments_seen(client, staff.author.headers, guid)
    assert [c["id"] for c in seen] == [reply["id"]]
    author_history = await history(client, staff.author.headers, guid)
    assert [e["kind"] for e in author_history] == ["opened", "commented"]
    # ... and the ticket did not move at all: no count, version or updated_at gives it away.
    assert (await client.get("/api/v1/tickets", headers=staff.author.headers)).json() == row_before
    one_after = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert one_after == one_before
    # Staff see it, marked internal, and its event carries the id, never the text.
    for reader in (staff.agent, staff.admin):
        staff_seen = await comments_seen(client, reader.headers, guid)
        assert [(c["id"], c["internal"]) for c in staff_seen] == [
            (reply["id"], False),
            (note["id"], True),
        ]
        events = await history(client, reader.headers, guid)
        assert [(e["kind"], e["data"]) for e in events[1:]] == [
            ("commented", {"comment_id": reply["id"]}),
            ("noted", {"comment_id": note["id"]}),
        ]
    assert NOTE not in json.dumps(events)


async def test_a_public_reply_is_the_tickets_last_activity(client, staff, sql):
    ticket = await open_ticket(client, staff.author.headers)
    guid = ticket["guid_ticket"]

    reply = await commented(client, staff.agent.headers, guid)

    after = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert after["version"] == ticket["version"] + 1
    assert after["updated_at"] == reply["created_at"]
    assert after["status"] == "open"  # a staff reply moves nothing
    await commented(client, staff.author.headers, guid)
    await commented(client, staff.agent.headers, guid, NOTE, internal=True)
    assert sql("SELECT public_comments, version FROM tickets") == [(2, ticket["version"] + 2)]


async def test_closed_tickets_can_still_be_talked_on(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    closed = await client.post(
        f"/api/v1/tickets/{guid}/status",
        json={"status": "closed_fail"},
        headers=staff.author.headers,
    )
    assert closed.status_code == 200

    await commented(client, staff.author.headers, guid, "Уже не нужно, спасибо")

    ticket = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert ticket["status"] == "closed_fail"


@pytest.mark.parametrize("internal", [False, True])
async def test_the_action_log_names_the_action_and_never_keeps_the_text(
    client, staff, redis_client, internal
):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    added = await comment(client, staff.agent.headers, guid, NOTE, internal=internal)
    listed = await client.get(f"/api/v1/tickets/{guid}/comments", headers=staff.author.headers)
    comment_id = added.json()["id"]
    edited = await client.patch(
        f"/api/v1/tickets/{guid}/comments/{comment_id}",
        json={"body": NOTE + "!"},
        headers=staff.agent.headers,
    )

    records = {
        r.headers["X-Action-Id"]: json.loads(redis_client.get(action_key(r.headers["X-Action-Id"])))
        for r in (added, listed, edited)
    }
    add, get, edit = records.values()
    assert (add["type"], add["actor"], add["guid_ticket"], add["status_code"]) == (
        "add_comment",
        "2001",
        guid,
        201,
    )
    assert add["params"] == {"internal": internal, "comment_id": comment_id}
    assert (get["type"], get["actor"], get["params"]) == ("get_comments", "1001", {"limit": 50})
    assert (edit["type"], edit["params"]) == (
        "edit_comment",
        {"comment_id": comment_id, "internal": internal},
    )
    assert NOTE not in json.dumps(list(records.values()))
