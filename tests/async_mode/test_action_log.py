"""The seed's action log (Redis) for queued requests, and Redis being down."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request, Response
from httpx import ASGITransport, AsyncClient

from tests.api.conftest import running
from tests.async_mode.conftest import (
    ASYNC,
    action,
    action_rows,
    assert_accepted,
    jobs,
    log_record,
    run_worker_until_idle,
)
from tests.conftest import make_settings
from tests.factories import open_ticket
from ticket_service.ops.action_log import ActionLogWriter, action_key, current_action
from ticket_service.ops.edge import EdgeMiddleware


async def test_the_record_ends_with_the_outcome(client, people, settings, redis_client):
    headers = {**people.author, **ASYNC, "X-Request-Id": "trace-async-1"}
    body = {"text": "Секретный текст", "priority": "urgent"}
    guid = assert_accepted(await client.post("/api/v1/tickets", json=body, headers=headers))
    accepted = log_record(redis_client, guid)
    assert accepted is not None
    assert (accepted["status_code"], accepted["outcome"], accepted["guid_ticket"]) == (
        202,
        "success",
        None,
    )

    await run_worker_until_idle(settings)
    final = log_record(redis_client, guid)
    assert final is not None
    ticket = (await action(client, people.author, guid))["result"]
    assert {k: final[k] for k in ("type", "actor", "guid_ticket", "params", "request_id")} == {
        "type": "open_ticket",
        "actor": "1001",
        "guid_ticket": ticket["guid_ticket"],
        "params": {"priority": "urgent"},  # never the text
        "request_id": "trace-async-1",
    }
    assert (final["outcome"], final["status_code"], final["error"]) == ("success", 201, None)
    assert final["started_at"] == accepted["started_at"]
    assert final["finished_at"] > accepted["finished_at"]
    assert "Секретный" not in json.dumps(final, ensure_ascii=False)
    assert 0 < redis_client.ttl(f"logs:actions:{guid}") <= settings.action_log_ttl_days * 86400


async def test_a_failed_action_is_logged_as_an_error(client, people, settings, redis_client):
    ticket = await open_ticket(client, people.author)
    body = {"guid_ticket": ticket["guid_ticket"], "new_status": "closed_success"}
    guid = assert_accepted(
        await client.post(
            "/api/tickets/change_status", json=body, headers={**people.author, **ASYNC}
        )
    )
    await run_worker_until_idle(settings)
    final = log_record(redis_client, guid)
    assert final is not None
    assert (final["outcome"], final["status_code"], final["error"]) == (
        "error",
        403,
        "transition_not_allowed",
    )
    assert (final["guid_ticket"], final["params"]) == (ticket["guid_ticket"], body)


@pytest.fixture
def redis_down_settings(database_url, closed_port, discord):
    return make_settings(
        database_url, f"redis://127.0.0.1:{closed_port}/0", discord.url_for("/api/v10")
    )


async def test_redis_down_at_acceptance_loses_nothing(
    app, people, settings, redis_down_settings, database_url, redis_client
):
    async with running(redis_down_settings) as (_, down_client):
        response = await down_client.post(
            "/api/v1/tickets", json={"text": "Redis лёг"}, headers={**people.author, **ASYNC}
        )
        guid = assert_accepted(response)
    assert log_record(redis_client, guid) is None
    assert [str(r["guid_action"]) for r in action_rows(database_url)] == [guid]
    assert [j["status"] for j in jobs(database_url)] == ["todo"]

    await run_worker_until_idle(settings)  # a worker with a working Redis
    transport = ASGITransport(app=app)
    async with AsyncClient(transport=transport, base_url="http://testserver") as client:
        done = await action(client, people.author, guid)
    assert (done["status"], done["status_code"]) == ("succeeded", 201)
    final = log_record(redis_client, guid)
    assert final is not None
    assert (final["outcome"], final["status_code"]) == ("success", 201)


async def test_redis_down_in_the_worker_costs_only_the_record(
    client, people, redis_down_settings, redis_client
):
    guid = assert_accepted(
        await client.post("/api/v1/tickets", json={"text": "x"}, headers={**people.author, **ASYNC})
    )
    await run_worker_until_idle(redis_down_settings)
    assert (await action(client, people.author, guid))["status"] == "succeeded"
    record = log_record(redis_client, guid)
    assert record is not None
    assert record["status_code"] == 202  # the acceptance record, never updated


async def test_a_late_acceptance_record_never_hides_the_outcome(settings, redis_url, redis_client):
    # The worker may finish before the API has written its 202 record (the job commits
    # with the request, the record is written after the response): the outcome must stay.
    app = FastAPI()

    @app.post("/queued")
    async def queued(request: Request) -> Response:
        record = current_action(request)
        record.type, record.queued = "open_ticket", True
        redis_client.set(action_key(record.guid_action), json.dumps({"status_code": 201}))
        return Response(status_code=202)

    app.add_middleware(EdgeMiddleware, settings=settings)
    app.state.redis = aioredis.Redis.from_url(redis_url)
    app.state.action_log = ActionLogWriter(app.state.redis, ttl_seconds=60)
    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:
            response = await client.post("/queued")
    finally:
        await app.state.redis.aclose()
    assert response.status_code == 202
    record = log_record(redis_client, response.headers["x-action-id"])
    assert record == {"status_code": 201}
