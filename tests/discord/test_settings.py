"""Settings of the Discord front door, and the door with Redis down."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from tests.discord.conftest import PATH, PUBLIC_KEY, Discord, interaction, modal_data, sign
from tests.ops.test_config import production


def test_production_refuses_interactions_without_a_key_or_guild() -> None:
    with pytest.raises(ValidationError) as caught:
        production(discord_interactions=True)
    text = str(caught.value)
    assert "DISCORD_PUBLIC_KEY must be set when DISCORD_INTERACTIONS=true" in text
    assert "DISCORD_GUILD_ID must be set when DISCORD_INTERACTIONS=true" in text
    done_right = production(
        discord_interactions=True, discord_public_key=PUBLIC_KEY, discord_guild_id="900100"
    )
    assert done_right.discord_public_key == PUBLIC_KEY
    # Off, nothing is required.
    assert not production().discord_interactions


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"discord_public_key": "abc"}, "64 hex"),
        ({"discord_public_key": "z" * 64}, "64 hex"),
        ({"discord_application_id": "my-app"}, "digits"),
    ],
)
def test_malformed_discord_settings_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        production(**overrides)


async def test_with_redis_down_interactions_still_work(make_discord) -> None:
    d: Discord = await make_discord(redis_url="redis://127.0.0.1:1/0", redis_timeout_seconds=0.2)
    body = b'{"type": 1, "id": "5"}'
    assert (await d.client.post(PATH, content=body, headers=sign(body))).json() == {"type": 1}
    answer = await d.answer(interaction(5, modal_data("open:normal:general", text="Без Redis")))
    assert answer["data"]["content"].startswith("Заявка #1 открыта")
