"""Sessions follow Discord: each refresh re-reads the person's guild membership and roles
from the Discord stand-in; admins can sign a person out everywhere."""

from __future__ import annotations

from typing import Any

from tests.auth.discord_stub import BOT_TOKEN, GUILD_ID, login
from tests.factories import auth_headers
from tests.notifications.receivers import free_port
from ticket_service.users.models import Role

ADMIN_ROLE = "7001"
AGENT_ROLE = "7002"
GUILD: dict[str, Any] = {
    "discord_guild_id": GUILD_ID,
    "discord_admin_role_ids": [ADMIN_ROLE],
    "discord_agent_role_ids": [AGENT_ROLE],
}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _refresh(client, pair: dict[str, Any]):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})


async def _role(client, access_token: str) -> str:
    response = await client.get("/api/v1/me", headers=_bearer(access_token))
    assert response.status_code == 200, response.text
    role: str = response.json()["role"]
    return role


async def test_a_member_removed_from_the_guild_is_signed_out_at_refresh(build_client, stub):
    _, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    assert (await _refresh(client, pair)).status_code == 200  # still a member: fine
    pair = await login(client, stub.code_for("42"))
    other = await login(client, stub.code_for("42"))  # a second sign-in (another device)

    stub.leave_guild("42")
    refused = await _refresh(client, pair)

    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "not_guild_member"
    # The whole family is gone: the access token in hand too, and the refresh token.
    assert (
        await client.get("/api/v1/me", headers=_bearer(pair["access_token"]))
    ).status_code == 401
    assert (await _refresh(client, pair)).status_code == 401
    # Another sign-in is its own family: it meets the same answer at its own refresh.
    assert (await _refresh(client, other)).json()["error"]["code"] == "not_guild_member"


async def test_a_role_change_in_discord_takes_effect_at_refresh(build_client, stub):
    _, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    assert await _role(client, pair["access_token"]) == "agent"

    stub.set_roles("42", [ADMIN_ROLE])
    promoted = await _refresh(client, pair)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["user"]["role"] == "admin"
    assert await _role(client, promoted.json()["access_token"]) == "admin"

    stub.set_roles("42", [])  # still a member, no role of ours
    demoted = await _refresh(client, promoted.json())
    assert demoted.json()["user"]["role"] == "employee"
    assert await _role(client, demoted.json()["access_token"]) == "employee"


async def test_a_role_set_by_an_admin_is_kept_at_refresh(build_client, stub):
    app, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[ADMIN_ROLE]))
    admin = await auth_headers(app, "1", Role.admin)
    r = await client.put("/api/v1/users/42/role", json={"role": "employee"}, headers=admin)
    assert r.status_code == 200, r.text

    refreshed = await _refresh(client, pair)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["user"]["role"] == "employee"


async def test_an_admins_role_change_takes_effect_at_the_next_request(app, client, stub):
    pair = await login(client, stub.user("42"))
    admin = await auth_headers(app, "1", Role.admin)
    assert await _role(client, pair["access_token"]) == "employee"
    r = await client.put("/api/v1/users/42/role", json={"role": "agent"}, headers=admin)
    assert r.status_code == 200, r.text
    assert await _role(client, pair["access_token"]) == "agent"  # same token, next request
    r = await client.put("/api/v1/users/42/role", json={"role": "employee"}, headers=admin)
    assert await _role(client, pair["access_token"]) == "employee"


async def test_discord_unreachable_is_503_and_the_session_stays_valid(build_client, stub):
    _, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    # The same service, while Discord cannot be reached (nothing listens there).
    _, cut_off = await build_client(
        discord_api_base_url=f"http://127.0.0.1:{free_port()}/api/v10", **GUILD
    )

    r = await _refresh(cut_off, pair)

    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "discord_unavailable"
    assert r.headers["Retry-After"]
    assert await _role(cut_off, pair["access_token"]) == "agent"  # until it expires
    # Nothing was spent: once Discord answers again, the same refresh token works.
    again = await _refresh(client, pair)
    assert again.status_code == 200, again.text


async def test_with_a_bot_token_the_bot_asks_discord(build_client, stub):
    _, client = await build_client(discord_bot_token=BOT_TOKEN, **GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    stub.set_roles("42", [ADMIN_ROLE])
    promoted = await _refresh(client, pair)
    assert promoted.json()["user"]["role"] == "admin"
    assert len(stub.requests_to(f"/guilds/{GUILD_ID}/members/42")) == 1

    stub.leave_guild("42")
    refused = await _refresh(client, promoted.json())
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_guild_member"


async def test_an_expired_discord_grant_is_renewed_with_its_refresh_token(build_client, stub, db):
    stub.token_lifetime = 0  # Discord's access token is stale by the time we refresh
    _, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    ((stored_before,),) = db("SELECT discord_refresh_token FROM users WHERE discord_id = '42'")

    refreshed = await _refresh(client, pair)

    assert refreshed.status_code == 200, refreshed.text
    grants = [r.form.get("grant_type") for r in stub.requests_to("/oauth2/token")]
    assert grants == ["authorization_code", "refresh_token"]
    ((stored_after,),) = db("SELECT discord_refresh_token FROM users WHERE discord_id = '42'")
    assert stored_after != stored_before  # Discord rotated it; we keep the new one
    # Stored encrypted: none of Discord's live tokens appears in the row.
    ((row,),) = db("SELECT row_to_json(u)::text FROM users u WHERE discord_id = '42'")
    assert not any(token in row for token in [*stub.tokens, *stub.refresh_tokens])


async def test_a_grant_taken_back_at_discord_signs_out_at_refresh(build_client, stub):
    stub.token_lifetime = 0
    _, client = await build_client(**GUILD)
    pair = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    stub.refresh_tokens.clear()  # the person removed our app in Discord's settings

    refused = await _refresh(client, pair)

    assert refused.status_code == 401, refused.text
    assert (
        await client.get("/api/v1/me", headers=_bearer(pair["access_token"]))
    ).status_code == 401


async def test_an_admin_revokes_every_session_of_a_person(app, client, stub):
    first = await login(client, stub.user("42"))
    second = await login(client, stub.code_for("42"))
    bystander = await login(client, stub.user("43", "bob"))
    admin = await auth_headers(app, "1", Role.admin)

    employee = _bearer(bystander["access_token"])
    assert (await client.delete("/api/v1/users/42/sessions", headers=employee)).status_code == 403
    missing = await client.delete("/api/v1/users/999/sessions", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "user_not_found"
    bad = await client.delete("/api/v1/users/not-a-number/sessions", headers=admin)
    assert bad.status_code == 422

    r = await client.delete("/api/v1/users/42/sessions", headers=admin)

    assert r.status_code == 204, r.text
    for pair in (first, second):
        me = await client.get("/api/v1/me", headers=_bearer(pair["access_token"]))
        assert me.status_code == 401
        assert (await _refresh(client, pair)).status_code == 401
    assert (await client.get("/api/v1/me", headers=employee)).status_code == 200
