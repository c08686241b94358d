"""Refuse request bodies over MAX_BODY_BYTES with 413 before the app reads them (run by the
edge layer, ops/edge.py): by Content-Length up front, or, for a chunked body, by counting
what arrives."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive

from ticket_service.errors import error_response


class BodyTooLarge(HTTPException):
    """Raised by receive() once a chunked body passes the limit. An HTTPException because
    FastAPI turns any other exception from body parsing into a 400; this one it re-raises
    and the error handler answers 413 `payload_too_large`."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body is over {max_bytes} bytes")


def declared_too_large(content_length: bytes | None, max_bytes: int) -> bool:
    return (
        content_length is not None and content_length.isdigit() and int(content_length) > max_bytes
    )


def limited(receive: Receive, max_bytes: int) -> Receive:
    """`receive` that raises BodyTooLarge once more than `max_bytes` have arrived."""
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge(max_bytes)
        return message

    return limited_receive


def refusal(max_bytes: int) -> ASGIApp:
    return error_response(
        413,
        "payload_too_large",
        f"Request body is over {max_bytes} bytes",
        {"max_bytes": max_bytes},
    )
