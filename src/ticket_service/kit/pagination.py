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


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc
    number = raw.removeprefix(_PREFIX)
    if not raw.startswith(_PREFIX) or not number.isdigit() or len(number) > 18:
        raise InvalidCursor()
    return int(number)
