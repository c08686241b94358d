"""Opaque keyset cursors: a page ends at a ticket number, the next starts below it; in
`sort=due` order a page ends at (resolution due instant, number), see `DueKey`."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from ticket_service.errors import BadRequest

_PREFIX = "n:"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    message = "The cursor is not one this service handed out"


@dataclass(frozen=True)
class DueKey:
    """Where a `sort=due` page ended: the last ticket's resolution due instant (None: it
    had none; those come last) and its number."""

    due: datetime | None
    number: int


_DUE_PREFIX = "d:"


def encode_cursor(position: int | DueKey) -> str:
    if isinstance(position, DueKey):
        due = "-" if position.due is None else str(_micros(position.due))
        raw = f"{_DUE_PREFIX}{due}:{position.number}"
    else:
        raw = f"{_PREFIX}{position}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _micros(instant: datetime) -> int:
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _digits(text: str, at_most: int) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= at_most


def decode_due_cursor(cursor: str) -> DueKey:
    """The position of a `sort=due` cursor; InvalidCursor for anything else."""
    raw = _raw(cursor)
    due, _, number = raw.removeprefix(_DUE_PREFIX).partition(":")
    if not raw.startswith(_DUE_PREFIX) or not _digits(number, 18):
        raise InvalidCursor()
    if due == "-":
        return DueKey(None, int(number))
    if not _digits(due, 17):
        raise InvalidCursor()
    micros = int(due)
    try:
        instant = datetime.fromtimestamp(micros // 1_000_000, UTC).replace(
            microsecond=micros % 1_000_000
        )
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidCursor() from exc
    return DueKey(instant, int(number))


def _raw(cursor: str) -> str:
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor()
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc


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
