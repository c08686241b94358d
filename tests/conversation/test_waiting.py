"""`waiting` ("ждёт ответа автора"): staff ask, and the author's reply ends the wait."""

from __future__ import annotations

from tests.conversation.conftest import commented, history
from tests.factories import open_ticket
from tests.notifications.receivers import changed


async def _waiting(client, staff) -> dict:
    ticket = await open_ticket(client, staff.author.headers)
    await changed(client, staff.agent.headers, ticket["guid_ticket"], "processing")
    asked = await commented(client, staff.agent.headers, ticket["guid_ticket"], "Какой у вас IP?")
    assert asked["internal"] is False
    return await changed(client, staff.agent.headers, ticket["guid_ticket"], "waiting")


async def test_the_authors_reply_moves_a_waiting_ticket_back_to_processing(client, staff, sql):
    waiting = await _waiting(client, staff)
    guid = waiting["guid_ticket"]

    reply = await commented(client, staff.author.headers, guid, "10.0.0.7")

    ticket = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert ticket["status"] == "processing"
    assert ticket["assignee"] == staff.agent.discord_id  # still theirs
    # One UPDATE: the count, the status and the version went together.
    assert ticket["version"] == waiting["version"] + 1
    assert sql("SELECT public_comments FROM tickets") == [(2,)]
    events = await history(client, staff.author.headers, guid)
    moved, said = events[-2:]
    assert (moved["kind"], moved["from_status"], moved["to_status"]) == (
        "status_changed",
        "waiting",
        "processing",
    )
    assert moved["actor"] == staff.author.discord_id
    assert moved["data"] == {"reason": "author_replied"}
    assert (said["kind"], said["data"]) == ("commented", {"comment_id": reply["id"]})
    assert moved["guid_action"] == said["guid_action"]


async def test_a_staff_reply_or_note_leaves_a_waiting_ticket_waiting(client, staff):
    guid = (await _waiting(client, staff))["guid_ticket"]

    await commented(client, staff.agent.headers, guid, "Напомню: какой у вас IP?")
    await commented(client, staff.admin.headers, guid, "Ждём ответа", internal=True)

    ticket = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert ticket["status"] == "waiting"
    kinds = [e["kind"] for e in await history(client, staff.agent.headers, guid)]
    assert kinds[-3:] == ["status_changed", "commented", "noted"]


async def test_the_authors_reply_on_a_ticket_not_waiting_moves_nothing(client, staff):
    ticket = await open_ticket(client, staff.author.headers)
    guid = ticket["guid_ticket"]

    await commented(client, staff.author.headers, guid, "Дополню: и Wi-Fi тоже")
    await changed(client, staff.agent.headers, guid, "processing")
    await commented(client, staff.author.headers, guid, "И принтер")

    after = (await client.get(f"/api/v1/tickets/{guid}", headers=staff.author.headers)).json()
    assert after["status"] == "processing"
    kinds = [e["kind"] for e in await history(client, staff.author.headers, guid)]
    assert kinds == ["opened", "commented", "assigned", "status_changed", "commented"]


async def test_a_waiting_ticket_can_be_withdrawn_by_its_author(client, staff):
    guid = (await _waiting(client, staff))["guid_ticket"]
    await changed(client, staff.author.headers, guid, "closed_fail")
