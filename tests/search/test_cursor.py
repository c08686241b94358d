"""Keyset cursors that name their sort: what one sort hands out, only it takes back."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from ticket_service.kit.pagination import InvalidCursor, decode_keyset, encode_keyset


def raw(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_key_comes_back_as_it_went_out_typed():
    due = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    rank = 0.1 + 0.2  # not a round decimal: the float must survive exactly
    cursor = encode_keyset("mixed", (due, rank, 42, "слово"))
    assert decode_keyset(cursor, "mixed", (datetime, float, int, str)) == (due, rank, 42, "слово")
    assert decode_keyset(encode_keyset("relevance", (1, 7)), "relevance", (float, int)) == (1.0, 7)


@pytest.mark.parametrize(
    ("cursor", "kinds"),
    [
        (encode_keyset("newest", (5,)), (float, int)),  # another sort's key shape
        (raw(["due", "2026-12-01T09:30:00", 5]), (datetime, int)),  # no time zone
        (raw(["due", "tomorrow", 5]), (datetime, int)),
        (raw(["due", 5, 5]), (datetime, int)),
        (raw(["due", "x" * 65, 5]), (str, int)),
        (raw(["due", None, 5]), (datetime, int)),
    ],
)
def test_a_key_of_the_wrong_shape_is_refused(cursor, kinds):
    with pytest.raises(InvalidCursor):
        decode_keyset(cursor, "due", kinds)


def test_a_cursor_of_another_sort_says_so():
    with pytest.raises(InvalidCursor) as refused:
        decode_keyset(encode_keyset("newest", (5,)), "due", (int,))
    assert refused.value.details == {"sort": "due"}
