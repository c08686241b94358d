"""Editing: its author, within 10 minutes by the database's clock; the previous text
stays in the history for staff."""

from __future__ import annotations

import pytest

from tests.conversation.conftest import age_comment, commented, comments_seen, history
from tests.factories import open_ticket


def _edit(client, headers, guid, comment_id, body="Перезагрузите роутер и ноутбук"):
    return client.patch(
        f"/api/v1/tickets/{guid}/comments/{comment_id}", json={"body": body}, headers=headers
    )


async def test_the_author_edits_within_ten_minutes_and_staff_see_what_it_said(
    client, staff, database_url
):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    reply = await commented(client, staff.agent.headers, guid, "Перезагрузите роутер")
    age_comment(database_url, reply["id"], 9)

    response = await _edit(client, staff.agent.headers, guid, reply["id"])

    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["body"] == "Перезагрузите роутер и ноутбук"
    assert edited["edited_at"] is not None
    assert edited["edited_at"] > edited["created_at"]
    [seen] = await comments_seen(client, staff.author.headers, guid)
    assert seen == edited
    staff_history = await history(client, staff.admin.headers, guid)
    assert (staff_history[-1]["kind"], staff_history[-1]["data"]) == (
        "comment_edited",
        {"comment_id": reply["id"], "previous": "Перезагрузите роутер"},
    )
    assert staff_history[-1]["actor"] == staff.agent.discord_id
    # The author sees the new text and that it was edited, never the old one.
    author_history = await history(client, staff.author.headers, guid)
    assert "comment_edited" not in {e["kind"] for e in author_history}
    assert all("previous" not in e["data"] for e in author_history)


async def test_an_edit_is_refused_after_ten_minutes(client, staff, database_url):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    mine = await commented(client, staff.author.headers, guid, "Не работает VPN")
    age_comment(database_url, mine["id"], 11)

    response = await _edit(client, staff.author.headers, guid, mine["id"], "Не работает Wi-Fi")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "edit_window_closed"
    assert error["details"] == {"window_minutes": 10}
    [seen] = await comments_seen(client, staff.author.headers, guid)
    assert (seen["body"], seen["edited_at"]) == ("Не работает VPN", None)


@pytest.mark.parametrize("editor", ["author", "agent", "admin"])
async def test_nobody_edits_someone_elses_comment(client, staff, editor):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    writer = staff.agent if editor != "agent" else staff.admin
    reply = await commented(client, writer.headers, guid, "Перезагрузите роутер")

    response = await _edit(client, staff.by_role(editor).headers, guid, reply["id"])

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_your_comment"
    [seen] = await comments_seen(client, staff.author.headers, guid)
    assert seen["body"] == "Перезагрузите роутер"


async def test_a_note_does_not_exist_for_the_author_and_a_comment_belongs_to_its_ticket(
    client, staff
):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    other = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    note = await commented(client, staff.agent.headers, guid, "заметка", internal=True)
    mine = await commented(client, staff.author.headers, guid, "мой ответ")

    for headers, ticket, comment_id in (
        (staff.author.headers, guid, note["id"]),  # a note: staff only
        (staff.author.headers, other, mine["id"]),  # on another ticket
        (staff.author.headers, guid, 999999),
    ):
        response = await _edit(client, headers, ticket, comment_id)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "comment_not_found"


async def test_staff_edit_their_own_notes(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    note = await commented(client, staff.agent.headers, guid, "заметка", internal=True)

    response = await _edit(client, staff.agent.headers, guid, note["id"], "заметка, исправлено")

    assert response.status_code == 200
    assert response.json()["internal"] is True
    assert await comments_seen(client, staff.author.headers, guid) == []


async def test_the_same_text_again_changes_nothing(client, staff):
    guid = (await open_ticket(client, staff.author.headers))["guid_ticket"]
    mine = await commented(client, staff.author.headers, guid, "Не работает VPN")

    response = await _edit(client, staff.author.headers, guid, mine["id"], "  Не работает VPN ")

    assert response.status_code == 200
    assert response.json() == mine
    kinds = [e["kind"] for e in await history(client, staff.admin.headers, guid)]
    assert kinds == ["opened", "commented"]
