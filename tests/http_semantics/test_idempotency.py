"""Idempotency-Key on the POSTs that create something (issue 13, item 5)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import psycopg
from asgi_lifespan import LifespanManager

from tests.conftest import make_settings
from tests.factories import auth_headers
from tests.http_semantics.conftest import Sql
from tests.tickets.conftest import People
from ticket_service.auth.dependencies import CurrentUser
from ticket_service.idempotency.dependencies import idempotent
from ticket_service.idempotency.tasks import prune_idempotency_keys
from ticket_service.main import create_app
from ticket_service.worker.app import open_jobs
from ticket_service.worker.resources import open_resources

V1 = "/api/v1/tickets"
BODY = {"text": "Нужен доступ к Jira", "priority": "high"}


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_repeat_answers_the_first_response_and_opens_one_ticket(
    client, people: People, sql: Sql, redis_client
):
    headers = _keyed(people.author.headers, "open-jira-1")
    first = await client.post(V1, json=BODY, headers=headers)
    again = await client.post(V1, json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    for name in ("Location", "ETag", "content-type"):
        assert again.headers[name] == first.headers[name]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sql.count("tickets") == 1
    assert sql.count("ticket_events") == 1

    # The action log records both, the repeat as a replay of the first action.
    first_action = first.headers["X-Action-Id"]
    replay = json.loads(redis_client.get(f"logs:actions:{again.headers['X-Action-Id']}"))
    assert replay["type"] == "open_ticket"
    assert replay["replay_of"] == first_action
    assert replay["status_code"] == 201
    original = json.loads(redis_client.get(f"logs:actions:{first_action}"))
    assert "replay_of" not in original


async def test_the_same_json_differently_spelled_is_the_same_request(client, people, sql):
    headers = {**_keyed(people.author.headers, "k"), "content-type": "application/json"}
    first = await client.post(V1, content=json.dumps(BODY), headers=headers)
    spaced = json.dumps(dict(reversed(list(BODY.items()))), indent=2)
    again = await client.post(V1, content=spaced, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert sql.count("tickets") == 1


async def test_the_same_key_with_another_body_is_422(client, people, sql):
    headers = _keyed(people.author.headers, "reused")
    assert (await client.post(V1, json=BODY, headers=headers)).status_code == 201
    other = await client.post(V1, json={"text": "Другое"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    # Another route with the key is another request too.
    seed = await client.post("/api/tickets/open", json=BODY, headers=headers)
    assert seed.status_code == 422
    assert sql.count("tickets") == 1


async def test_keys_are_per_caller(client, people, sql):
    mine = await client.post(V1, json=BODY, headers=_keyed(people.author.headers, "shared"))
    theirs = await client.post(
        V1, json=BODY, headers=_keyed(people.other_employee.headers, "shared")
    )
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["guid_ticket"] != theirs.json()["guid_ticket"]
    assert theirs.json()["author"] == people.other_employee.discord_id
    assert sql.count("tickets") == 2


async def test_a_failed_request_does_not_use_up_the_key(client, people, sql):
    headers = _keyed(people.author.headers, "retry-me")
    failed = await client.post(V1, json={**BODY, "service": "nope"}, headers=headers)
    assert failed.status_code == 400
    assert sql.count("idempotency_keys") == 0
    invalid = await client.post(V1, json={"text": ""}, headers=headers)
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "validation_error"
    fixed = await client.post(V1, json=BODY, headers=headers)
    assert fixed.status_code == 201
    assert sql.count("tickets") == 1


async def test_a_key_older_than_24_hours_by_the_database_clock_works_again(client, people, sql):
    headers = _keyed(people.author.headers, "daily")
    first = await client.post(V1, json=BODY, headers=headers)
    sql("UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes'")
    assert (await client.post(V1, json=BODY, headers=headers)).content == first.content
    sql("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'")
    later = await client.post(V1, json=BODY, headers=headers)
    assert later.status_code == 201
    assert later.json()["guid_ticket"] != first.json()["guid_ticket"]
    assert "Idempotent-Replayed" not in later.headers
    assert sql.count("tickets") == 2
    # ... and the new answer is the one repeated from now on.
    assert (await client.post(V1, json=BODY, headers=headers)).content == later.content


async def test_two_concurrent_requests_with_one_key_open_one_ticket(client, people, sql):
    headers = _keyed(people.author.headers, "double-click")
    responses = await asyncio.gather(*(client.post(V1, json=BODY, headers=headers) for _ in "ab"))
    assert sql.count("tickets") == 1
    done = [r for r in responses if r.status_code == 201]
    assert done, [r.text for r in responses]
    # Exactly one did the work; the other replayed it or was told to retry.
    assert sum("Idempotent-Replayed" in r.headers or r.status_code == 409 for r in responses) == 1
    for response in responses:
        if response.status_code == 201:
            assert response.content == done[0].content
        else:
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "idempotency_in_progress"


async def test_a_duplicate_waits_a_bounded_time_then_409(database_url, redis_url, discord, sql):
    settings = make_settings(
        database_url, redis_url, discord.url_for("/api/v10"), idempotency_wait_seconds=0.2
    )
    app = create_app(settings)
    async with LifespanManager(app):
        headers = _keyed(await auth_headers(app, "1001"), "slow")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            (user_id,) = sql("SELECT id FROM users WHERE discord_id = '1001'")[0]
            # Another request holds the key: its transaction has not committed yet.
            with psycopg.connect(database_url) as holder:
                holder.execute(
                    "INSERT INTO idempotency_keys (user_id, key, fingerprint, guid_action)"
                    " VALUES (%s, 'slow', '\\x00', %s)",
                    (user_id, uuid.uuid4()),
                )
                busy = await client.post(V1, json=BODY, headers=headers)
                assert busy.status_code == 409
                assert busy.json()["error"]["code"] == "idempotency_in_progress"
                assert busy.headers["Retry-After"] == "1"
                holder.rollback()  # the other request failed: the key is free again
            done = await client.post(V1, json=BODY, headers=headers)
            assert done.status_code == 201
            # The wait is bounded for the key only: the work's own locks wait as usual.
            assert sql.count("tickets") == 1


async def test_malformed_keys_are_400(client, people, sql):
    for key in ("", "x" * 256, "tab\there", "ключ".encode()):
        headers = {**people.author.headers, "Idempotency-Key": key}
        response = await client.post(V1, json=BODY, headers=headers)
        assert response.status_code == 400, key
        assert response.json()["error"]["code"] == "invalid_idempotency_key"
    longest = await client.post(V1, json=BODY, headers=_keyed(people.author.headers, "~" * 255))
    assert longest.status_code == 201
    assert sql.count("tickets") == 1


async def test_without_a_key_nothing_is_stored(client, people, sql):
    for _ in range(2):
        assert (await client.post(V1, json=BODY, headers=people.author.headers)).status_code == 201
    assert sql.count("tickets") == 2
    assert sql.count("idempotency_keys") == 0


async def test_comments_seed_paths_and_async_accept_replay(client, people, sql):
    author = people.author.headers
    guid = (await client.post(V1, json=BODY, headers=author)).json()["guid_ticket"]
    url = f"{V1}/{guid}/comments"
    comment = [
        await client.post(url, json={"body": "Срочно"}, headers=_keyed(author, "c1")) for _ in "ab"
    ]
    assert comment[0].status_code == comment[1].status_code == 201
    assert comment[1].content == comment[0].content
    assert comment[1].headers["Location"] == comment[0].headers["Location"]
    assert len((await client.get(url, headers=author)).json()["items"]) == 1

    seed = [
        await client.post("/api/tickets/open", json=BODY, headers=_keyed(author, "s1"))
        for _ in "ab"
    ]
    assert seed[0].status_code == seed[1].status_code == 200
    assert seed[1].content == seed[0].content  # guid_action too: the first action's

    # The seed's GET that opens a ticket writes, so it honours the key as well.
    params = {"text": "Сломался стул"}
    by_get = [
        await client.get("/api/tickets/open", params=params, headers=_keyed(author, "g1"))
        for _ in "ab"
    ]
    assert by_get[1].content == by_get[0].content
    assert sql.count("tickets") == 3

    queued = [
        await client.post(
            V1, json=BODY, headers={**_keyed(author, "a1"), "Prefer": "respond-async"}
        )
        for _ in "ab"
    ]
    assert queued[0].status_code == queued[1].status_code == 202
    assert queued[1].headers["Location"] == queued[0].headers["Location"]
    assert queued[1].content == queued[0].content
    assert sql.count("async_actions") == 1


async def test_openapi_documents_the_header(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in (V1, "/api/tickets/open", "/api/v1/tickets/{guid_ticket}/comments"):
        operation = paths[path]["post"]
        assert any(p["name"] == "idempotency-key" for p in operation["parameters"]), path
        assert {"409", "422"} <= set(operation["responses"]), path


async def test_the_hourly_task_prunes_keys_past_their_time(client, people, sql, settings):
    for key in ("old", "fresh"):
        headers = _keyed(people.author.headers, key)
        assert (await client.post(V1, json=BODY, headers=headers)).status_code == 201
    sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
    async with open_jobs(settings) as jobs, open_resources(settings) as resources:
        await prune_idempotency_keys.defer_async(timestamp=0)
        await jobs.run_worker_async(
            wait=False,
            install_signal_handlers=False,
            listen_notify=False,
            additional_context={"resources": resources},
        )
    assert sql("SELECT key FROM idempotency_keys") == [("fresh",)]


async def test_a_route_gets_idempotency_from_one_decorator(app, client, people, sql):
    """What the next route (e.g. a rating) gets from `@idempotent` alone: an endpoint
    without Request or Response parameters, answering a plain dict."""
    calls: list[str] = []

    @idempotent
    async def make_thing(user: CurrentUser, body: dict[str, int]) -> dict[str, object]:
        calls.append(user.discord_id)
        return {"made": len(calls), "by": user.discord_id}

    app.router.add_api_route("/api/v1/test-things", make_thing, methods=["POST"], status_code=201)
    headers = _keyed(people.author.headers, "thing")
    first = await client.post("/api/v1/test-things", json={"n": 1}, headers=headers)
    again = await client.post("/api/v1/test-things", json={"n": 1}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == {"made": 1, "by": people.author.discord_id}
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert calls == [people.author.discord_id]
    plain = await client.post("/api/v1/test-things", json={"n": 1}, headers=people.author.headers)
    assert plain.json()["made"] == 2
