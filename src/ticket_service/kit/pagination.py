"""Opaque keyset cursors: a page ends at a ticket number, the next starts below it."""

from __future__ import annotations

import base64
import binascii

from ticket_service.errors import BadRequest

_PREFIX = "n:"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    message = "The cursor is not one this service handed out"


def encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{number}".encode()).decode().rstrip("=")


_MAX_CURSOR_CHARS = 64


def decode_cursor(cursor: str) -> int:
    if len(cursor) > _MAX_CURSOR_CHARS:  # ours are ~27 characters; don't decode megabytes
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc
    number = raw.removeprefix(_PREFIX)
    # isdigit() alone also takes "²" (int() fails: a 500) and "١٢" (a cursor we never made).
    ascii_digits = number.isascii() and number.isdigit()
    if not raw.startswith(_PREFIX) or not ascii_digits or len(number) > 18:
        raise InvalidCursor()
    return int(number)
