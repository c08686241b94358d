"""Sign-in leaves a record at `logs:actions:<guid_action>`, and never its secrets."""

from __future__ import annotations

import json
import socket

from tests.auth.discord_stub import login, start

KEY = "logs:actions:{}"


def _record(redis_client, response) -> tuple[str, dict]:
    action_id = response.headers["X-Action-Id"]
    raw = redis_client.get(KEY.format(action_id))
    assert raw is not None, f"no action record for {action_id}"
    return raw, json.loads(raw)


async def test_a_sign_in_is_logged_without_code_state_or_tokens(client, stub, redis_client):
    code = stub.user("42")
    state = await start(client)

    response = await client.get("/api/discord/auth", params={"code": code, "state": state})

    assert response.status_code == 200, response.text
    raw, record = _record(redis_client, response)
    assert record["guid_action"] == response.headers["X-Action-Id"]
    assert record["type"] == "log_in"
    assert record["actor"] == "42"
    assert record["outcome"] == "success"
    assert record["status_code"] == 200
    pair = response.json()["response"]
    for secret in (code, state, pair["access_token"], pair["refresh_token"]):
        assert secret not in raw
    assert 0 < redis_client.ttl(KEY.format(record["guid_action"])) <= 90 * 86400


async def test_a_failed_sign_in_is_logged_as_an_error_without_its_secrets(
    client, stub, redis_client
):
    stub.user("42")
    state = await start(client)
    code = "wrong-code-4f2a"

    response = await client.get("/api/discord/auth", params={"code": code, "state": state})

    assert response.status_code == 401
    raw, record = _record(redis_client, response)
    assert record["type"] == "log_in"
    assert record["outcome"] == "error"
    assert record["status_code"] == 401
    assert record["error"] == response.json()["error"]["code"]
    assert code not in raw
    assert state not in raw


async def test_a_refused_state_is_logged_without_code_or_state(client, stub, redis_client):
    code = stub.user("42")
    state = "forged-state-9d1c"

    response = await client.get("/api/discord/auth", params={"code": code, "state": state})

    assert response.status_code == 401
    raw, record = _record(redis_client, response)
    assert (record["type"], record["status_code"]) == ("log_in", 401)
    assert code not in raw
    assert state not in raw


async def test_every_request_gets_its_own_action_id(client):
    first = await client.get("/api/discord/auth_link")
    second = await client.get("/api/discord/auth_link")

    assert first.headers["X-Action-Id"] != second.headers["X-Action-Id"]


async def test_refresh_and_logout_are_logged_without_tokens(client, stub, redis_client):
    pair = await login(client, stub.user("42"))

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200
    new = refreshed.json()
    logout = await client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {new['access_token']}"}
    )
    assert logout.status_code == 204

    raw, record = _record(redis_client, refreshed)
    assert (record["type"], record["actor"], record["outcome"]) == (
        "refresh_token",
        "42",
        "success",
    )
    raw_logout, record_logout = _record(redis_client, logout)
    assert (record_logout["type"], record_logout["actor"]) == ("log_out", "42")
    for token in (
        pair["access_token"],
        pair["refresh_token"],
        new["access_token"],
        new["refresh_token"],
    ):
        assert token not in raw
        assert token not in raw_logout


async def test_sign_in_works_while_redis_is_down(build_client, stub):
    """Redis only holds the log: losing it costs the record, never the sign-in."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    _, client = await build_client(redis_url=f"redis://127.0.0.1:{closed_port}/0")

    pair = await login(client, stub.user("42"))

    me = await client.get("/api/v1/me", headers={"access_token": pair["access_token"]})
    assert me.status_code == 200, me.text
    assert me.json()["discord_id"] == "42"
