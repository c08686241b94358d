"""The endpoint's door: Discord's signature, its clock, repeated ids, PING."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.discord.conftest import PATH, Discord, interaction, member, sign
from ticket_service.integrations.discord.router import REPLAY_KEY

PING = json.dumps({"type": 1, "id": "1", "application_id": "800100"}).encode()


async def test_ping_is_answered_with_pong(discord_app: Discord, redis_client) -> None:
    response = await discord_app.client.post(PATH, content=PING, headers=sign(PING))
    assert response.status_code == 200
    assert response.json() == {"type": 1}
    record = json.loads(redis_client.get(f"logs:actions:{response.headers['X-Action-Id']}"))
    assert record["type"] == "discord_ping"


def _cases() -> list[tuple[str, dict[str, str], bytes]]:
    """Built when the test runs: the clock cases are relative to now."""
    now = str(int(time.time()))
    good = sign(PING, now)
    other_key = sign(PING, now, Ed25519PrivateKey.generate())
    return [
        ("no headers", {}, PING),
        ("no signature", {"X-Signature-Timestamp": now}, PING),
        ("no timestamp", {"X-Signature-Ed25519": good["X-Signature-Ed25519"]}, PING),
        ("another key", other_key, PING),
        ("body changed", good, PING.replace(b'"1"', b'"2"')),
        ("non-hex signature", {**good, "X-Signature-Ed25519": "zz" * 64}, PING),
        ("odd-length hex", {**good, "X-Signature-Ed25519": "abc"}, PING),
        ("timestamp changed", {**good, "X-Signature-Timestamp": str(int(now) + 1)}, PING),
        ("timestamp not a number", {**good, "X-Signature-Timestamp": "yesterday"}, PING),
        ("six minutes old", sign(PING, str(int(now) - 360)), PING),
        ("six minutes ahead", sign(PING, str(int(now) + 360)), PING),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _cases()])
async def test_every_signature_failure_is_401(discord_app: Discord, case: str) -> None:
    headers, body = next((h, b) for name, h, b in _cases() if name == case)
    response = await discord_app.client.post(PATH, content=body, headers=headers)
    assert response.status_code == 401, case
    assert response.json()["error"]["code"] == "invalid_signature"


async def test_four_minutes_off_is_still_accepted(discord_app: Discord) -> None:
    for skew in (-240, 240):
        headers = sign(PING, str(int(time.time()) + skew))
        response = await discord_app.client.post(PATH, content=PING, headers=headers)
        assert response.status_code == 200


async def test_a_repeated_interaction_is_refused(discord_app: Discord, redis_client) -> None:
    payload = interaction(2, {"name": "tickets", "type": 1})
    first = await discord_app.send(payload)
    assert first.status_code == 200
    again = await discord_app.send(payload)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "interaction_replayed"
    assert redis_client.ttl(REPLAY_KEY + payload["id"]) > 300


async def test_off_unless_enabled(make_discord) -> None:
    d: Discord = await make_discord(discord_interactions=False)
    response = await d.client.post(PATH, content=PING, headers=sign(PING))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "discord_interactions_off"


async def test_a_signed_body_that_is_not_an_interaction_is_400(discord_app: Discord) -> None:
    body = b"[1, 2]"
    response = await discord_app.client.post(PATH, content=body, headers=sign(body))
    assert response.status_code == 400


async def test_not_limited_like_sign_in(make_discord) -> None:
    # Sign-in allows 1 request a minute per address here; Discord's calls are not counted.
    d: Discord = await make_discord(auth_rate_limit_per_minute=1, rate_limit_per_minute=1)
    for _ in range(3):
        response = await d.client.post(PATH, content=PING, headers=sign(PING))
        assert response.status_code == 200
    assert (await d.client.get("/api/discord/auth_link")).status_code == 200
    assert (await d.client.get("/api/discord/auth_link")).status_code == 429


async def test_someone_outside_the_guild_is_refused(discord_app: Discord) -> None:
    payload = interaction(2, {"name": "tickets", "type": 1}, guild="555", locale="en-US")
    answer = await discord_app.answer(payload)
    assert answer["type"] == 4
    assert answer["data"]["flags"] == 64
    assert answer["data"]["content"] == "Only members of the company server may do this."


async def test_a_stranger_in_a_dm_is_refused(discord_app: Discord) -> None:
    payload = interaction(3, {"custom_id": "ticket:reopen:x", "component_type": 2}, dm_user="77")
    answer = await discord_app.answer(payload)
    assert answer["data"]["content"] == "Сначала войдите в сервис заявок через Discord."
    assert answer["data"]["flags"] == 64


async def test_the_member_is_upserted_with_the_sign_in_role_mapping(
    discord_app: Discord, database_url: str
) -> None:
    import psycopg

    await discord_app.answer(interaction(2, {"name": "tickets"}, who=member("2500", "700001")))
    await discord_app.answer(interaction(2, {"name": "tickets"}, who=member("2600", "1", "2")))
    await discord_app.answer(interaction(2, {"name": "tickets"}, who=member("2700", "700002")))
    with psycopg.connect(database_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT discord_id, role FROM users WHERE discord_id IN ('2500', '2600', '2700')"
            ).fetchall()
        )
    assert rows == {"2500": "agent", "2600": "employee", "2700": "admin"}
    # Roles follow the guild: the agent role taken away makes an employee again.
    await discord_app.answer(interaction(2, {"name": "tickets"}, who=member("2500")))
    with psycopg.connect(database_url) as conn:
        role = conn.execute("SELECT role FROM users WHERE discord_id = '2500'").fetchone()
    assert role == ("employee",)


async def test_a_member_without_an_id_or_a_guild_setting_is_refused(make_discord) -> None:
    d: Discord = await make_discord()
    payload = interaction(2, {"name": "tickets"}, who={"roles": []})
    answer = await d.answer(payload)
    assert answer["data"]["content"] == "Действовать могут только участники сервера компании."
    no_guild: Discord = await make_discord(discord_guild_id=None)
    answer = await no_guild.answer(interaction(2, {"name": "tickets"}))
    assert answer["data"]["content"] == "Действовать могут только участники сервера компании."
