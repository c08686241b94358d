"""Admission (ops/admission.py): at most DB_POOL_SIZE requests inside a process, the rest
served first come, first served; one that waited ADMISSION_TIMEOUT_SECONDS is told so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from asgi_lifespan import LifespanManager

from tests.conftest import make_settings
from tests.factories import auth_headers
from ticket_service.main import create_app
from ticket_service.ops.admission import FifoGate


async def _line_up(gate: FifoGate, names: list[str], admitted: list[str]) -> list[asyncio.Task]:
    async def one(name: str) -> None:
        assert await gate.enter()
        admitted.append(name)

    tasks = []
    for name in names:
        tasks.append(asyncio.create_task(one(name)))
        await asyncio.sleep(0)  # each is in line before the next arrives
    return tasks


async def test_those_who_waited_are_let_in_in_the_order_they_came():
    gate = FifoGate(slots=1, patience=5)
    assert await gate.enter()
    admitted: list[str] = []
    tasks = await _line_up(gate, ["a", "b", "c"], admitted)
    gate.leave()  # the slot goes to "a", who has not run yet...
    late = await _line_up(gate, ["late"], admitted)  # ...so a newcomer cannot take it
    for expected in (["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "late"]):
        await asyncio.sleep(0.01)
        assert admitted == expected
        gate.leave()
    await asyncio.gather(*tasks, *late)
    assert await gate.enter()  # every slot came back


async def test_one_who_waited_too_long_is_turned_away_and_the_line_moves_on():
    gate = FifoGate(slots=1, patience=0.05)
    assert await gate.enter()
    assert await gate.enter() is False  # 50 ms in line, no turn
    gate.leave()
    assert await gate.enter()  # the slot was free again, not lost to the one who left


async def test_a_turn_handed_to_one_who_went_away_is_passed_on():
    gate = FifoGate(slots=1, patience=0.05)
    assert await gate.enter()
    waiter = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # its turn comes...
    waiter.cancel()  # ...and the caller goes away before it could take it
    await asyncio.gather(waiter, return_exceptions=True)
    assert await gate.enter()  # the slot did not leave with it


async def test_a_full_process_answers_503_overloaded_and_loses_nothing(
    database_url, redis_url, discord
):
    settings = make_settings(
        database_url,
        redis_url,
        discord.url_for("/api/v10"),
        db_pool_size=1,
        admission_timeout_seconds=0.3,
    )
    app = create_app(settings)
    body_may_finish = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield '{"text": "Не печатает принтер'.encode()
        await body_may_finish.wait()  # the request is inside, reading its body
        yield ' на третьем этаже"}'.encode()

    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        headers = await auth_headers(app, "1001")
        slow = asyncio.create_task(
            client.post(
                "/api/v1/tickets",
                content=slow_body(),
                headers={**headers, "Content-Type": "application/json"},
            )
        )
        await asyncio.sleep(0.05)

        busy = await client.get("/api/v1/me", headers=headers)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        error = busy.json()["error"]
        assert error["code"] == "overloaded"
        assert error["details"] == {"waited_seconds": 0.3}
        # Health checks never wait in line: an orchestrator sees a busy process as alive.
        assert (await client.get("/health/live")).status_code == 200

        body_may_finish.set()
        created = await slow
        assert created.status_code == 201, created.text
        assert created.json()["text"] == "Не печатает принтер на третьем этаже"
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
