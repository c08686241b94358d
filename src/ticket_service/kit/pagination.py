"""Opaque keyset cursors.

`encode_cursor(n)` / `decode_cursor`: one integer key (a page of comments or deliveries
ends at an id, the next starts after it). `encode_keyset(sort, key)` / `decode_keyset`:
a list sorted one of several ways; the cursor names its sort and carries that sort's
key of the page's last row, typed, so a cursor of another sort (or one we never made)
is 400 `invalid_cursor`, never a 500 or a silently wrong page.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from datetime import datetime

from ticket_service.errors import BadRequest

_PREFIX = "n:"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    message = "The cursor is not one this service handed out"


def encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{number}".encode()).decode().rstrip("=")


_MAX_CURSOR_CHARS = 64


def _unbase64(cursor: str, limit: int) -> str:
    if len(cursor) > limit:  # ours are short; don't decode megabytes
        raise InvalidCursor()
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor() from exc


def _ascii_int(text: str) -> int:
    # isdigit() alone also takes "²" (int() fails: a 500) and "١٢" (a cursor we never made).
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise InvalidCursor()
    return int(text)


def decode_cursor(cursor: str) -> int:
    raw = _unbase64(cursor, _MAX_CURSOR_CHARS)
    if not raw.startswith(_PREFIX):
        raise InvalidCursor()
    return _ascii_int(raw.removeprefix(_PREFIX))


# ---------------------------------------------------------------- sorted lists

# A key is made of these; a datetime travels as its ISO 8601 string; None only where the
# sort's column may be null (`Nullable`).
KeyPart = int | float | str | datetime | None


class Nullable:
    """A key part of `kind` or null (e.g. the due instant of a ticket whose SLA clock is
    not running, ordered after all the others)."""

    def __init__(self, kind: type) -> None:
        self.kind = kind


Kind = type | Nullable
_MAX_KEYSET_CHARS = 400
_MAX_STR_PART = 64


def encode_keyset(sort: str, key: Sequence[KeyPart]) -> str:
    """The cursor after a row whose sort key (in the sort's column order) is `key`."""
    parts = [p.isoformat() if isinstance(p, datetime) else p for p in key]
    raw = json.dumps([sort, *parts], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _part(value: object, kind: Kind) -> KeyPart:
    if isinstance(kind, Nullable):
        return None if value is None else _part(value, kind.kind)
    # bool is an int to Python and NaN a float to JSON: neither is a key we hand out.
    if kind is int and type(value) is int and 0 <= value < 2**63:
        return value
    if kind is float and type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    if kind is str and type(value) is str and len(value) <= _MAX_STR_PART:
        return value
    if kind is datetime and type(value) is str and len(value) <= _MAX_STR_PART:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InvalidCursor() from exc
        if moment.tzinfo is not None:
            return moment
    raise InvalidCursor()


def decode_keyset(cursor: str, sort: str, kinds: Sequence[Kind]) -> tuple[KeyPart, ...]:
    """The key a cursor of `sort` carries, checked against the sort's key types."""
    raw = _unbase64(cursor, _MAX_KEYSET_CHARS)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, list) or len(data) != len(kinds) + 1:
        raise InvalidCursor()
    if data[0] != sort:
        raise InvalidCursor("The cursor belongs to another sort order", details={"sort": sort})
    return tuple(_part(value, kind) for value, kind in zip(data[1:], kinds, strict=True))
