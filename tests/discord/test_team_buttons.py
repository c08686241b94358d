"""`claim`, `reply`, `note` on the card: the assignment and conversation services behind
them, through the buttons."""

from __future__ import annotations

import asyncio
import uuid

from tests.discord.conftest import AGENT_ROLE, Discord, interaction, member, modal_data
from tests.factories import auth_headers, open_ticket
from ticket_service.conversation import service as conversation


async def _press(d: Discord, action: str, guid: str, who: dict, locale: str = "ru") -> dict:
    data = {"custom_id": f"ticket:{action}:{guid}", "component_type": 2}
    return await d.answer(interaction(3, data, who=who, locale=locale))


async def test_an_employee_pressing_claim_is_refused(discord_app: Discord) -> None:
    author = await auth_headers(discord_app.app, "1001")
    guid = (await open_ticket(discord_app.client, author))["guid_ticket"]
    answer = await _press(discord_app, "claim", guid, member("1001"))
    assert answer["type"] == 4
    assert answer["data"]["flags"] == 64
    ticket = (await discord_app.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["assignee"] is None


async def test_two_agents_claiming_at_once_one_wins(discord_app: Discord) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    answers = await asyncio.gather(
        _press(d, "claim", guid, member("2001", AGENT_ROLE)),
        _press(d, "claim", guid, member("2002", AGENT_ROLE), "en-US"),
    )
    assert sorted(a["type"] for a in answers) == [4, 6]
    refused = next(a for a in answers if a["type"] == 4)
    assert refused["data"]["content"] in (
        "Заявку уже взял другой сотрудник.",
        "Another agent has taken the ticket.",
    )
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["assignee"] in ("2001", "2002")


async def test_reply_is_public_and_note_is_staff_only(discord_app: Discord) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    agent = member("2001", AGENT_ROLE)
    for action, text in (("reply", "Перезагрузите роутер"), ("note", "Похоже на DHCP")):
        modal = await _press(d, action, guid, agent)
        assert modal["type"] == 9
        assert modal["data"]["custom_id"] == f"{action}:{guid}"
        done = await d.answer(interaction(5, modal_data(f"{action}:{guid}", body=text), who=agent))
        assert done["data"]["flags"] == 64

    async with d.app.state.sessionmaker() as session:
        from ticket_service.users.repository import by_discord_id_for_update

        the_author = await by_discord_id_for_update(session, "1001")
        the_agent = await by_discord_id_for_update(session, "2001")
        seen_by_author, _ = await conversation.list_comments(session, the_author, uuid.UUID(guid))
        seen_by_agent, _ = await conversation.list_comments(session, the_agent, uuid.UUID(guid))
    assert [(c.body, c.internal) for c in seen_by_author] == [("Перезагрузите роутер", False)]
    assert [(c.body, c.internal) for c in seen_by_agent] == [
        ("Перезагрузите роутер", False),
        ("Похоже на DHCP", True),
    ]
    # The author may not write an internal note.
    refused = await d.answer(interaction(5, modal_data(f"note:{guid}", body="x")))
    assert refused["type"] == 4
