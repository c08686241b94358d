"""The api's HTTP protocol (ops/http_protocol.py): a response's head and body reach the
client in one TCP segment, and what is written still arrives whole and in order: a long
streamed body, a response that closes the connection, uvicorn's own 400."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from ticket_service.ops.http_protocol import WRITE_AT_ONCE, HttpProtocol

REQUEST = b"GET /%s HTTP/1.1\r\nHost: test\r\n%s\r\n"
CHUNK = b"0123456789abcdef" * 256  # 4 KiB
STREAMED = 64  # chunks: 256 KiB, four times WRITE_AT_ONCE


def segments_received(sock: socket.socket) -> int:
    """TCP segments this socket has received (Linux's struct tcp_info, tcpi_segs_in)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("I", info, 140)[0])


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await receive()
    if scope["path"] == "/stream":  # every chunk sent without the loop turning
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(STREAMED):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"status": "ok"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"16")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving(protocol: Any) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    """A connection to `app` served over `protocol` (uvicorn's name, or a class), as
    uvicorn's server makes each connection's protocol."""
    config = uvicorn.Config(app, http=protocol, lifespan="off", log_config=None)
    config.load()
    state = ServerState()
    server = await asyncio.get_running_loop().create_server(
        lambda: config.http_protocol_class(config=config, server_state=state, app_state={}),
        "127.0.0.1",
        0,
    )
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname())
    try:
        yield reader, writer
    finally:
        writer.close()
        server.close()


async def segments_per_response(protocol: Any) -> float:
    async with serving(protocol) as (reader, writer):
        sock = writer.get_extra_info("socket")
        for i in range(30):
            writer.write(REQUEST % (b"", b""))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            assert await reader.readexactly(16) == b'{"status": "ok"}'
            if i == 9:  # past the connection's start
                before = segments_received(sock)
        return (segments_received(sock) - before) / 20


async def test_a_response_leaves_in_one_segment():
    assert await segments_per_response(HttpProtocol) == 1
    # uvicorn's own: the head, then the body.
    assert await segments_per_response("httptools") == 2


async def test_a_streamed_body_arrives_whole_and_in_order():
    async with serving(HttpProtocol) as (reader, writer):
        writer.write(REQUEST % (b"stream", b""))
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        body = b""
        while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
            body += await reader.readexactly(size)
            assert await reader.readexactly(2) == b"\r\n"
        assert await reader.readexactly(2) == b"\r\n"
        assert body == CHUNK * STREAMED
        assert len(body) == 4 * WRITE_AT_ONCE  # held past the bound: written as it went


async def test_a_closing_response_is_sent_before_the_connection_closes():
    async with serving(HttpProtocol) as (reader, writer):
        writer.write(REQUEST % (b"", b"Connection: close\r\n"))
        answer = await reader.read()  # to EOF: the server closed after its answer
        assert answer.startswith(b"HTTP/1.1 200")
        assert b"connection: close" in answer.lower()
        assert answer.endswith(b'{"status": "ok"}')


async def test_a_malformed_request_gets_its_400():
    async with serving(HttpProtocol) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost test\r\n\r\n")  # no colon
        answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 400")
        assert answer.endswith(b"Invalid HTTP request received.")
