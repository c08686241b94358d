"""DM buttons carry no guild `member`: the person's place in the guild is asked of Discord
(the bot's `GET /guilds/{guild}/members/{user}`) before they act (issue 15)."""

from __future__ import annotations

from tests.discord.conftest import AGENT_ROLE, GUILD, Discord, interaction
from tests.factories import auth_headers, open_ticket
from ticket_service.users.models import Role

MEMBER = rf"/guilds/{GUILD}/members/1001$"


async def _closed_ticket(d: Discord) -> tuple[str, dict[str, str]]:
    # Signed in, role not set by hand: it follows the guild's roles.
    author = await auth_headers(d.app, "1001", None)
    agent = await auth_headers(d.app, "2001", Role.agent)
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    url = f"/api/v1/tickets/{guid}/status"
    for status in ("processing", "closed_success"):
        assert (await d.client.post(url, json={"status": status}, headers=agent)).is_success
    return guid, author


def _reopen(guid: str) -> dict[str, str | int]:
    return {"custom_id": f"ticket:reopen:{guid}", "component_type": 2}


async def test_someone_who_left_the_guild_is_refused_and_nothing_changes(discord_app: Discord):
    d = discord_app
    guid, author = await _closed_ticket(d)
    d.api.left.add("1001")
    answer = await d.answer(interaction(3, _reopen(guid), dm_user="1001", locale="en-US"))
    assert answer["data"]["content"] == "Only members of the company server may do this."
    assert answer["data"]["flags"] == 64
    (asked,) = d.api.of("GET", MEMBER)
    assert asked.headers["Authorization"].startswith("Bot ")
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "closed_success"

    rate = {"custom_id": f"ticket:rate:{guid}", "component_type": 3, "values": ["5"]}
    refused = await d.answer(interaction(3, rate, dm_user="1001"))
    assert refused["data"]["content"] == "Действовать могут только участники сервера компании."


async def test_a_member_acts_and_their_role_follows_the_guild(discord_app: Discord, sql_role):
    d = discord_app
    guid, author = await _closed_ticket(d)
    answer = await d.answer(interaction(3, _reopen(guid), dm_user="1001", locale="en-US"))
    assert answer["data"]["content"] == "Done."
    assert len(d.api.of("GET", MEMBER)) == 1
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "open"

    # Closed again, and given the agent role in Discord meanwhile: the next DM press (the
    # rating) maps it, as sign-in does.
    agent = await auth_headers(d.app, "2001", Role.agent)
    closed = await d.client.post(
        f"/api/v1/tickets/{guid}/status", json={"status": "closed_success"}, headers=agent
    )
    assert closed.is_success, closed.text
    d.api.member_roles["1001"] = [AGENT_ROLE]
    rate = {"custom_id": f"ticket:rate:{guid}", "component_type": 3, "values": ["5"]}
    await d.answer(interaction(3, rate, dm_user="1001"))
    assert sql_role("1001") == "agent"
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["rating"]["score"] == 5


async def test_discord_unreachable_refuses_rather_than_trusting(make_discord):
    d: Discord = await make_discord()
    guid, author = await _closed_ticket(d)
    d.api.throttle(5.0, times=3)  # longer than an interaction may wait
    answer = await d.answer(interaction(3, _reopen(guid), dm_user="1001", locale="en-US"))
    assert answer["data"]["content"] == (
        "Could not check that you are on the company server. Try again later."
    )
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "closed_success"


async def test_without_a_bot_token_a_dm_button_is_refused(make_discord):
    d: Discord = await make_discord(discord_bot_token=None)
    guid, _ = await _closed_ticket(d)
    answer = await d.answer(interaction(3, _reopen(guid), dm_user="1001", locale="en-US"))
    assert answer["data"]["content"].startswith("Could not check")


async def test_a_guild_button_needs_no_extra_call(discord_app: Discord):
    d = discord_app
    guid, _ = await _closed_ticket(d)
    answer = await d.answer(interaction(3, _reopen(guid)))
    assert answer["data"]["content"] == "Готово."
    assert d.api.of("GET", r"/guilds/") == []
