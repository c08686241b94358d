"""Our own tokens: how they are stored, presented, refreshed and revoked."""

from __future__ import annotations

import pytest

from tests.auth.discord_stub import login, start


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me_status(client, token: str) -> int:
    return (await client.get("/api/v1/me", headers=_bearer(token))).status_code


def _assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert set(response.json()["error"]) == {"code", "message", "details"}


async def _refresh(client, refresh_token: str):
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


# --- storage -------------------------------------------------------------------------------


async def test_only_hashes_of_tokens_reach_the_database(client, stub, db):
    pair = await login(client, stub.user("42"))

    rows = db("SELECT row_to_json(s)::text FROM auth_sessions s")

    assert len(rows) == 1
    stored = rows[0][0]
    for token in (pair["access_token"], pair["refresh_token"]):
        assert token not in stored
        assert token.encode().hex() not in stored


async def test_changing_secret_key_signs_everybody_out(client, stub, build_client):
    pair = await login(client, stub.user("42"))
    assert await _me_status(client, pair["access_token"]) == 200

    _, rotated = await build_client(secret_key="a-brand-new-secret-key-" + "x" * 20)

    assert await _me_status(rotated, pair["access_token"]) == 401
    _assert_401(await _refresh(rotated, pair["refresh_token"]))


async def test_the_login_state_is_not_stored_in_the_clear(client, db):
    state = await start(client)

    rows = db("SELECT row_to_json(s)::text FROM oauth_states s")

    assert len(rows) == 1
    assert state not in rows[0][0]
    assert state.encode().hex() not in rows[0][0]


async def test_tokens_are_opaque_and_different_at_every_sign_in(client, stub):
    first = await login(client, stub.user("42"))
    second = await login(client, stub.code_for("42"))

    assert first["access_token"] != second["access_token"]
    assert first["refresh_token"] != second["refresh_token"]
    # Not a JWT: nothing for a client to decode or trust without asking us.
    assert "." not in first["access_token"]
    assert "." not in first["refresh_token"]


# --- presenting a token --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        lambda t: {"Authorization": f"Bearer {t}"},
        lambda t: {"Authorization": f"bearer {t}"},
        lambda t: {"access_token": t},
    ],
    ids=["bearer", "bearer-lowercase", "seed-header"],
)
async def test_access_token_is_accepted_in_either_header(client, stub, headers):
    pair = await login(client, stub.user("42"))

    response = await client.get("/api/v1/me", headers=headers(pair["access_token"]))

    assert response.status_code == 200, response.text
    assert response.json()["discord_id"] == "42"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-token"},
        {"access_token": "not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
    ids=["none", "empty-bearer", "bad-bearer", "bad-seed-header", "basic"],
)
async def test_missing_or_invalid_token_is_401(client, stub, headers):
    await login(client, stub.user("42"))  # a valid session exists for somebody

    response = await client.get("/api/v1/me", headers=headers)

    _assert_401(response)


async def test_the_refresh_token_is_not_an_access_token(client, stub):
    pair = await login(client, stub.user("42"))

    assert await _me_status(client, pair["refresh_token"]) == 401


async def test_an_expired_access_token_is_401(build_client, stub, db):
    # The database's own rule, with no cache in front: expiry is moved behind the service's
    # back here, which never happens to a real token (the cache keeps each token's expiry).
    _, client = await build_client(auth_cache_seconds=0)
    pair = await login(client, stub.user("42"))
    assert await _me_status(client, pair["access_token"]) == 200

    db("UPDATE auth_sessions SET access_expires_at = now() - interval '1 second'")

    _assert_401(await client.get("/api/v1/me", headers=_bearer(pair["access_token"])))


# --- refresh -------------------------------------------------------------------------------


async def test_refresh_rotates_the_pair(client, stub):
    old = await login(client, stub.user("42"))

    response = await _refresh(client, old["refresh_token"])

    assert response.status_code == 200, response.text
    new = response.json()
    assert new["token_type"] == "bearer"
    assert new["expires_in"] == 3600
    assert new["user"]["discord_id"] == "42"
    assert new["access_token"] != old["access_token"]
    assert new["refresh_token"] != old["refresh_token"]
    assert await _me_status(client, new["access_token"]) == 200
    assert await _me_status(client, old["access_token"]) == 401
    # The new refresh token goes on working, once each.
    again = await _refresh(client, new["refresh_token"])
    assert again.status_code == 200, again.text


async def test_refresh_renews_an_expired_access_token(client, stub, db):
    old = await login(client, stub.user("42"))
    db("UPDATE auth_sessions SET access_expires_at = now() - interval '1 second'")

    response = await _refresh(client, old["refresh_token"])

    assert response.status_code == 200, response.text
    assert await _me_status(client, response.json()["access_token"]) == 200


async def test_reusing_a_refresh_token_revokes_the_whole_family(client, stub):
    old = await login(client, stub.user("42"))
    rotated = await _refresh(client, old["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.json()

    replay = await _refresh(client, old["refresh_token"])

    _assert_401(replay)
    assert await _me_status(client, new["access_token"]) == 401
    _assert_401(await _refresh(client, new["refresh_token"]))


async def test_a_family_revocation_leaves_other_sign_ins_alone(client, stub):
    laptop = await login(client, stub.user("42"))
    phone = await login(client, stub.code_for("42"))
    assert (await _refresh(client, laptop["refresh_token"])).status_code == 200

    _assert_401(await _refresh(client, laptop["refresh_token"]))

    assert await _me_status(client, phone["access_token"]) == 200
    assert (await _refresh(client, phone["refresh_token"])).status_code == 200


@pytest.mark.parametrize("token", ["not-a-refresh-token", "x" * 256])
async def test_unknown_refresh_token_is_401(client, stub, token):
    await login(client, stub.user("42"))

    _assert_401(await _refresh(client, token))


async def test_an_access_token_cannot_be_used_to_refresh(client, stub):
    pair = await login(client, stub.user("42"))

    _assert_401(await _refresh(client, pair["access_token"]))


async def test_an_expired_refresh_token_is_401(client, stub, db):
    pair = await login(client, stub.user("42"))
    db("UPDATE auth_sessions SET refresh_expires_at = now() - interval '1 second'")

    _assert_401(await _refresh(client, pair["refresh_token"]))


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"token": "x"}])
async def test_refresh_without_a_refresh_token_is_422(client, body):
    response = await client.post("/api/v1/auth/refresh", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


# --- logout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [lambda t: {"Authorization": f"Bearer {t}"}, lambda t: {"access_token": t}],
    ids=["bearer", "seed-header"],
)
async def test_logout_ends_the_session_at_once(client, stub, headers):
    pair = await login(client, stub.user("42"))

    response = await client.post("/api/v1/auth/logout", headers=headers(pair["access_token"]))

    assert response.status_code == 204
    assert response.content == b""
    assert await _me_status(client, pair["access_token"]) == 401
    _assert_401(await _refresh(client, pair["refresh_token"]))
    _assert_401(await client.post("/api/v1/auth/logout", headers=headers(pair["access_token"])))


async def test_logout_leaves_other_sign_ins_alone(client, stub):
    laptop = await login(client, stub.user("42"))
    phone = await login(client, stub.code_for("42"))

    assert (
        await client.post("/api/v1/auth/logout", headers=_bearer(laptop["access_token"]))
    ).status_code == 204

    assert await _me_status(client, phone["access_token"]) == 200


async def test_logout_without_a_token_is_401(client):
    _assert_401(await client.post("/api/v1/auth/logout"))
