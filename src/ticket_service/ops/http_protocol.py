"""uvicorn's httptools protocol, sending a response's head and body together.

uvicorn writes the status line and headers to the socket when the app starts its response,
and the body when the app sends it: two send() calls and two TCP segments for every
ordinary response, and a client woken twice. Here the connection's transport holds what
is written until the event loop's next turn (or until it holds WRITE_AT_ONCE bytes), so a
head and a body sent in one go, as every response of ours is, leave in one send() call. In
a benchmark of a bare Starlette endpoint under uvicorn that is 51 → 38 µs of server CPU a
request; `tests/ops/test_api_workers.py` counts the segments a client receives.

Nothing waits longer for it: the loop's next turn comes before it polls for I/O again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# A streamed body's chunks go out once this much is held, without waiting for the turn.
WRITE_AT_ONCE = 64 * 1024


class _OneSendPerTurn:
    """A transport that joins the writes of one turn of the event loop into one. Everything
    else (flow control, closing, the socket's details) is the real transport's."""

    __slots__ = ("_held", "_loop", "_size", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] = []
        self._size = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._size += len(data)
        if self._size >= WRITE_AT_ONCE:
            self.flush()

    def flush(self) -> None:
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """`uvicorn.Config(http=HttpProtocol)`: httptools, with `_OneSendPerTurn`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneSendPerTurn(transport))  # type: ignore[arg-type]
