"""Which role a user gets at sign-in, and when Discord may change it."""

from __future__ import annotations

import pytest

from tests.auth.discord_stub import GUILD_ID, login
from tests.factories import auth_headers
from ticket_service.users.models import Role

ADMIN_ROLE = "7001"
AGENT_ROLE = "7002"
OTHER_ROLE = "7003"

GUILD = {
    "discord_guild_id": GUILD_ID,
    "discord_admin_role_ids": [ADMIN_ROLE],
    "discord_agent_role_ids": [AGENT_ROLE],
}


async def _me(client, access_token: str) -> dict:
    response = await client.get("/api/v1/me", headers={"access_token": access_token})
    assert response.status_code == 200, response.text
    return response.json()


async def test_without_any_configuration_everyone_is_an_employee(client, stub):
    pair = await login(client, stub.user("42"))

    assert pair["user"]["role"] == "employee"


async def test_bootstrap_admin_ids_sign_in_as_admins(build_client, stub):
    _, client = await build_client(admin_discord_ids=["42"])

    admin = await login(client, stub.user("42"))
    other = await login(client, stub.user("43", "bob"))

    assert admin["user"]["role"] == "admin"
    assert other["user"]["role"] == "employee"


async def test_bootstrap_admin_ids_come_from_a_comma_separated_env_var(
    build_client, stub, monkeypatch
):
    monkeypatch.setenv("ADMIN_DISCORD_IDS", "41, 42")
    _, client = await build_client()

    pair = await login(client, stub.user("42"))

    assert pair["user"]["role"] == "admin"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([ADMIN_ROLE], "admin"),
        ([AGENT_ROLE], "agent"),
        ([OTHER_ROLE, AGENT_ROLE], "agent"),
        ([AGENT_ROLE, ADMIN_ROLE], "admin"),
        ([OTHER_ROLE], "employee"),
        ([], "employee"),
    ],
)
async def test_guild_roles_decide_the_role(build_client, stub, roles, expected):
    _, client = await build_client(**GUILD)

    pair = await login(client, stub.user("42", roles=roles))

    assert pair["user"]["role"] == expected


async def test_losing_the_guild_role_demotes_at_the_next_sign_in(build_client, stub):
    _, client = await build_client(**GUILD)
    first = await login(client, stub.user("42", roles=[AGENT_ROLE]))
    assert first["user"]["role"] == "agent"

    second = await login(client, stub.user("42", roles=[]))

    assert second["user"]["role"] == "employee"
    # The account is one: the earlier session sees the demotion too.
    assert (await _me(client, first["access_token"]))["role"] == "employee"


async def test_gaining_a_guild_role_promotes_at_the_next_sign_in(build_client, stub):
    _, client = await build_client(**GUILD)
    await login(client, stub.user("42", roles=[]))

    pair = await login(client, stub.user("42", roles=[ADMIN_ROLE]))

    assert pair["user"]["role"] == "admin"


async def test_a_role_an_admin_set_sticks_across_sign_ins(build_client, stub):
    app, client = await build_client(**GUILD)
    await login(client, stub.user("42", roles=[]))
    admin = await auth_headers(app, "1", Role.admin)

    changed = await client.put("/api/v1/users/42/role", json={"role": "agent"}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "agent"

    pair = await login(client, stub.user("42", roles=[]))

    assert pair["user"]["role"] == "agent"


async def test_an_admin_demotion_beats_a_discord_admin_role(build_client, stub):
    app, client = await build_client(**GUILD)
    await login(client, stub.user("42", roles=[ADMIN_ROLE]))
    admin = await auth_headers(app, "1", Role.admin)

    changed = await client.put("/api/v1/users/42/role", json={"role": "employee"}, headers=admin)
    assert changed.status_code == 200, changed.text

    pair = await login(client, stub.user("42", roles=[ADMIN_ROLE]))

    assert pair["user"]["role"] == "employee"


async def test_a_bootstrap_admin_stays_admin_whatever_was_set_by_hand(build_client, stub):
    app, client = await build_client(admin_discord_ids=["42"])
    await login(client, stub.user("42"))
    other_admin = await auth_headers(app, "1", Role.admin)
    changed = await client.put(
        "/api/v1/users/42/role", json={"role": "employee"}, headers=other_admin
    )
    assert changed.status_code == 200, changed.text

    pair = await login(client, stub.user("42"))

    assert pair["user"]["role"] == "admin"


@pytest.mark.parametrize("role", [Role.employee, Role.agent])
async def test_only_admins_may_set_roles(app, client, stub, role):
    await login(client, stub.user("42"))
    headers = await auth_headers(app, "2", role)

    response = await client.put("/api/v1/users/42/role", json={"role": "admin"}, headers=headers)

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"]
    me = await login(client, stub.code_for("42"))
    assert me["user"]["role"] == "employee"
