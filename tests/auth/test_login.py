"""Sign-in with Discord: the link, the code exchange and every way it can go wrong."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.auth.discord_stub import (
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    GUILD_ID,
    REDIRECT_URI,
    login,
    sign_in,
    start,
)


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code


# --- the link ------------------------------------------------------------------------------


async def test_auth_link_sends_the_user_to_discord_authorize(client):
    response = await client.get("/api/discord/auth_link")

    assert response.status_code == 200
    link = response.json()["response"]["auth_link"]
    parts = urlsplit(link)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://discord.example/oauth2/authorize"
    )
    query = _query(link)
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["response_type"] == "code"
    scopes = set(query["scope"].split())
    assert {"identify", "email"} <= scopes
    assert "guilds.members.read" not in scopes


async def test_auth_link_asks_for_guild_membership_when_a_guild_is_configured(build_client):
    _, client = await build_client(discord_guild_id=GUILD_ID)

    response = await client.get("/api/discord/auth_link")

    scopes = set(_query(response.json()["response"]["auth_link"])["scope"].split())
    assert {"identify", "email", "guilds.members.read"} <= scopes


async def test_every_link_carries_a_fresh_unguessable_state(client):
    states = [await start(client) for _ in range(3)]

    assert len(set(states)) == 3
    assert all(len(state) >= 32 for state in states)


# --- a successful sign-in ------------------------------------------------------------------


async def test_sign_in_answers_tokens_and_the_user(client, stub):
    code = stub.user("42", "alice", global_name="Alice", email="alice@1440.test")

    response = await sign_in(client, code)

    assert response.status_code == 200, response.text
    pair = response.json()["response"]
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 3600
    assert pair["access_token"]
    assert pair["refresh_token"]
    assert pair["access_token"] != pair["refresh_token"]
    user = pair["user"]
    assert user["discord_id"] == "42"
    assert user["username"] == "alice"
    assert user["display_name"] == "Alice"
    assert user["email"] == "alice@1440.test"
    assert user["role"] == "employee"
    assert user["last_login_at"] is not None

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["discord_id"] == "42"


async def test_code_is_exchanged_with_basic_client_auth_and_the_same_redirect_uri(client, stub):
    code = stub.user("42")
    state = await start(client)

    response = await client.get("/api/discord/auth", params={"code": code, "state": state})

    assert response.status_code == 200, response.text
    [exchange] = stub.requests_to("/oauth2/token")
    assert exchange.method == "POST"
    assert exchange.authorization is not None
    assert exchange.authorization.type == "basic"
    assert (exchange.authorization.username, exchange.authorization.password) == (
        CLIENT_ID,
        CLIENT_SECRET,
    )
    assert exchange.form["code"] == code
    assert exchange.form["redirect_uri"] == REDIRECT_URI
    assert "client_secret" not in exchange.form
    assert len(stub.requests_to("/users/@me")) == 1


async def test_signing_in_again_refreshes_the_profile_of_the_same_user(client, stub, db):
    await login(client, stub.user("42", "alice", email="old@1440.test"))

    second = await login(client, stub.user("42", "alice.k", email="new@1440.test"))

    assert second["user"]["username"] == "alice.k"
    assert second["user"]["email"] == "new@1440.test"
    assert db("SELECT discord_id, username FROM users") == [("42", "alice.k")]


# --- the code ------------------------------------------------------------------------------


async def test_wrong_code_is_401(client, stub):
    stub.user("42")

    response = await sign_in(client, "not-a-code-discord-issued")

    _assert_error(response, 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")


async def test_a_code_used_once_is_401_the_second_time(client, stub):
    code = stub.user("42")
    await login(client, code)

    response = await sign_in(client, code)

    _assert_error(response, 401)


@pytest.mark.parametrize("params", [{}, {"code": ""}])
async def test_missing_code_is_422(client, params):
    state = await start(client)

    response = await client.get("/api/discord/auth", params={"state": state, **params})

    _assert_error(response, 422, "validation_error")


# --- the state -----------------------------------------------------------------------------


async def test_missing_state_is_401_and_discord_is_not_asked(client, stub):
    code = stub.user("42")

    response = await client.get("/api/discord/auth", params={"code": code})

    _assert_error(response, 401)
    assert stub.requests_to("/oauth2/token") == []


async def test_forged_state_is_401_and_the_code_is_not_spent(client, stub):
    code = stub.user("42")
    await start(client)  # a real state exists, but the caller does not present it

    response = await client.get("/api/discord/auth", params={"code": code, "state": "forged"})

    _assert_error(response, 401)
    assert stub.requests_to("/oauth2/token") == []
    assert (await sign_in(client, code)).status_code == 200


async def test_expired_state_is_401(client, stub, db):
    code = stub.user("42")
    state = await start(client)
    db("UPDATE oauth_states SET expires_at = now() - interval '1 second'")

    response = await client.get("/api/discord/auth", params={"code": code, "state": state})

    _assert_error(response, 401)


async def test_a_state_that_signed_someone_in_cannot_be_used_again(client, stub):
    state = await start(client)
    first = await client.get("/api/discord/auth", params={"code": stub.user("42"), "state": state})
    assert first.status_code == 200, first.text

    replay = await client.get(
        "/api/discord/auth", params={"code": stub.code_for("42"), "state": state}
    )

    _assert_error(replay, 401)


async def test_a_state_is_spent_by_a_failed_attempt_too(client, stub):
    state = await start(client)
    failed = await client.get("/api/discord/auth", params={"code": "typo", "state": state})
    assert failed.status_code == 401

    retry = await client.get("/api/discord/auth", params={"code": stub.user("42"), "state": state})

    _assert_error(retry, 401)


# --- the guild -----------------------------------------------------------------------------


async def test_a_guild_member_signs_in(build_client, stub):
    _, client = await build_client(discord_guild_id=GUILD_ID)

    pair = await login(client, stub.user("42", roles=[]))

    assert pair["user"]["discord_id"] == "42"
    assert len(stub.requests_to(f"/users/@me/guilds/{GUILD_ID}/member")) == 1


async def test_someone_outside_the_guild_is_403_and_gets_no_account(build_client, stub, db):
    _, client = await build_client(discord_guild_id=GUILD_ID)

    response = await sign_in(client, stub.user("42", roles=None))

    _assert_error(response, 403)
    assert db("SELECT count(*) FROM users") == [(0,)]
    assert db("SELECT count(*) FROM auth_sessions") == [(0,)]


# --- Discord misbehaving -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_discord_unreachable_is_503(build_client):
    _, client = await build_client(
        discord_api_base_url=f"http://127.0.0.1:{_closed_port()}/api/v10"
    )

    response = await sign_in(client, "some-code")

    _assert_error(response, 503)


async def test_discord_failing_every_time_is_503_not_500(client, discord):
    discord.expect_request(f"{API}/oauth2/token", method="POST").respond_with_json(
        {"message": "500: Internal Server Error", "code": 0}, status=500
    )

    response = await sign_in(client, "some-code")

    _assert_error(response, 503)


async def test_a_transient_5xx_on_the_token_endpoint_is_retried(client, stub, discord):
    code = stub.user("42")
    discord.expect_oneshot_request(f"{API}/oauth2/token", method="POST").respond_with_json(
        {"message": "500: Internal Server Error", "code": 0}, status=500
    )

    response = await sign_in(client, code)

    assert response.status_code == 200, response.text
    assert response.json()["response"]["user"]["discord_id"] == "42"
    assert len(stub.requests_to("/oauth2/token")) == 2


async def test_a_transient_5xx_reading_the_user_does_not_reuse_the_spent_code(
    client, stub, discord
):
    """Discord codes work once: a retry after /users/@me failed must not exchange it again."""
    code = stub.user("42")
    discord.expect_oneshot_request(f"{API}/users/@me", method="GET").respond_with_json(
        {"message": "502: Bad Gateway", "code": 0}, status=502
    )

    response = await sign_in(client, code)

    assert response.status_code == 200, response.text
    assert response.json()["response"]["user"]["discord_id"] == "42"
    assert len(stub.requests_to("/users/@me")) == 2


async def test_a_transient_5xx_reading_the_guild_member_is_retried(build_client, stub, discord):
    _, client = await build_client(discord_guild_id=GUILD_ID)
    code = stub.user("42", roles=[])
    discord.expect_oneshot_request(
        f"{API}/users/@me/guilds/{GUILD_ID}/member", method="GET"
    ).respond_with_json({"message": "503: Service Unavailable", "code": 0}, status=503)

    response = await sign_in(client, code)

    assert response.status_code == 200, response.text
    assert len(stub.requests_to(f"/users/@me/guilds/{GUILD_ID}/member")) == 2


# --- server-side misconfiguration is not the user's fault ------------------------------------


async def test_a_wrong_client_secret_is_503_misconfigured_not_a_bad_code(build_client, stub):
    code = stub.user("42")
    _, client = await build_client(discord_client_secret="not-the-secret-discord-knows")

    response = await sign_in(client, code)

    _assert_error(response, 503, "discord_misconfigured")
    assert "DISCORD_CLIENT_SECRET" in response.json()["error"]["message"]


async def test_no_client_id_means_no_sign_in_link(build_client):
    _, client = await build_client(discord_client_id="")

    response = await client.get("/api/discord/auth_link")

    _assert_error(response, 503, "discord_misconfigured")


async def test_token_responses_are_never_cached(client, stub):
    response = await sign_in(client, stub.user("42"))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": response.json()["response"]["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.headers["cache-control"] == "no-store"
