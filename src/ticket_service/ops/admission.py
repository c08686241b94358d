"""Admission: at most as many requests inside the app as the process keeps database
connections (DB_POOL_SIZE); the others wait their turn, first come, first served.

Why not let them all in and wait for a connection in the pool: SQLAlchemy's async pool
is not fair. A connection put back goes to whoever asks next, and a waiter woken for it
that finds it taken goes to the back of the line (asyncio.Queue). Under a burst (128
connections on two processes of 20) most requests are quick but a few wait behind
hundreds of newcomers until the 2 s pool timeout sheds them as 503, and the event loop
interleaves 64 requests where 20 would keep the cores as busy. Here each request waits
only for those ahead of it, a slot goes straight to the first in line, and a burst never
opens overflow connections (each a PostgreSQL backend started and stopped).

A request that waited ADMISSION_TIMEOUT_SECONDS gets 503 `overloaded` with Retry-After:
shed, with nothing done, rather than left hanging. Health checks and metrics are never
queued: they must answer when the service is busiest.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp

from ticket_service.errors import error_response

# Paths answered without the database, or that must answer while requests queue.
NEVER_QUEUED = ("/health", "/metrics", "/static/")


def queued(path: str) -> bool:
    return not path.startswith(NEVER_QUEUED)


class FifoGate:
    """`slots` holders at a time; the rest are let in strictly in the order they came, and
    give up after `patience` seconds in line."""

    def __init__(self, slots: int, patience: float) -> None:
        self._free = slots
        self._waiting: deque[asyncio.Future[None]] = deque()
        self.patience = patience

    async def enter(self) -> bool:
        """Take a slot (True), or give up after `patience` seconds in line (False)."""
        if self._free and not self._waiting:
            self._free -= 1
            return True
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            async with asyncio.timeout(self.patience):
                await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():
                self.leave()  # handed a slot as time ran out: pass it to the next in line
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def leave(self) -> None:
        """Give the slot back: straight to the first still waiting, if any."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


def refusal(waited: float) -> ASGIApp:
    return error_response(
        503,
        "overloaded",
        f"The service is busy: no turn within {waited:g} s; retry shortly",
        {"waited_seconds": waited},
        headers={"Retry-After": "1"},
    )
