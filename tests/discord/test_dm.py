"""The author's direct message after a close carries `reopen` and `rate`; both work."""

from __future__ import annotations

import json

from tests.discord.conftest import Discord, interaction
from tests.factories import auth_headers, open_ticket
from ticket_service.users.models import Role

DM_MESSAGES = r"/channels/51001/messages$"  # the stand-in's DM channel with user 1001


def _custom_ids(payload: dict) -> list[str]:
    return [c["custom_id"] for row in payload.get("components", []) for c in row["components"]]


async def test_dm_buttons_after_a_close_and_they_work(discord_app: Discord, redis_client) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    url = f"/api/v1/tickets/{guid}/status"
    assert (await d.client.post(url, json={"status": "processing"}, headers=agent)).is_success
    await d.run_jobs()
    assert (await d.client.post(url, json={"status": "closed_success"}, headers=agent)).is_success
    await d.run_jobs()

    taken, closed = (c.body for c in d.api.of("POST", DM_MESSAGES))
    assert _custom_ids(taken) == []  # not closed: nothing to reopen or rate
    assert _custom_ids(closed) == [f"ticket:reopen:{guid}", f"ticket:rate:{guid}"]
    rate = closed["components"][1]["components"][0]
    assert [o["value"] for o in rate["options"]] == ["1", "2", "3", "4", "5"]

    # The closing DM also invites the rating on the web, in the author's language.
    assert closed["embeds"][0]["description"].endswith(
        f"Оцените, как решили вашу заявку: https://tickets.1440.test/tickets/{guid}"
    )
    assert "tickets/" not in taken["embeds"][0]["description"]

    # Rating: stored through the one rating rule, thanked; a second choice is refused.
    data = {"custom_id": f"ticket:rate:{guid}", "component_type": 3, "values": ["4"]}
    response = await d.send(interaction(3, data, dm_user="1001"))
    assert response.json()["data"]["content"] == "Спасибо за оценку ★★★★!"
    record = json.loads(redis_client.get(f"logs:actions:{response.headers['X-Action-Id']}"))
    assert record["type"] == "discord_rate"
    assert record["params"]["rating"] == 4
    assert record["actor"] == "1001"
    shown = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()["rating"]
    assert (shown["score"], shown["comment"]) == (4, None)
    again = await d.answer(interaction(3, {**data, "values": ["1"]}, dm_user="1001"))
    assert again["data"]["content"] == "Вы уже оценили эту заявку."
    assert again["data"]["flags"] == 64
    shown = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()["rating"]
    assert shown["score"] == 4
    bad = {**data, "values": ["9"]}
    refused = await d.answer(interaction(3, bad, dm_user="1001", locale="en-US"))
    assert refused["data"]["content"] == "Unknown command."

    # Reopening by the author, from the DM.
    data = {"custom_id": f"ticket:reopen:{guid}", "component_type": 2}
    answer = await d.answer(interaction(3, data, dm_user="1001", locale="en-US"))
    assert answer["data"] == {"content": "Done.", "flags": 64, "allowed_mentions": {"parse": []}}
    ticket = (await d.client.get(f"/api/v1/tickets/{guid}", headers=author)).json()
    assert ticket["status"] == "open"
    # Someone else pressing it (a forwarded message) is refused.
    await auth_headers(d.app, "1002")
    answer = await d.answer(interaction(3, data, dm_user="1002"))
    assert answer["data"]["content"] == "Заявка не найдена или недоступна вам."


async def test_a_dm_waits_out_a_rate_limit_and_is_sent(discord_app: Discord) -> None:
    d = discord_app
    author = await auth_headers(d.app, "1001")
    agent = await auth_headers(d.app, "2001", Role.agent)
    guid = (await open_ticket(d.client, author))["guid_ticket"]
    d.api.throttle(0.3)
    url = f"/api/v1/tickets/{guid}/status"
    assert (await d.client.post(url, json={"status": "processing"}, headers=agent)).is_success
    await d.run_jobs()
    opened = d.api.of("POST", r"/users/@me/channels$")
    assert len(opened) == 2  # 429, then the same call again
    assert opened[1].at - opened[0].at >= 0.3
    assert len(d.api.of("POST", DM_MESSAGES)) == 1
