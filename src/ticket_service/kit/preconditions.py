"""HTTP conditional requests (RFC 9110, 13.1): entity tags, `If-Match`, `If-None-Match`.

A ticket's tag is its `version`, strong and quoted: `"3"`. A comment's tag is its id and
the moment it was last written (`"c17-1764502800123456"`). Tags name the state of the
row, whichever representation (v1, seed, Discord) it was read through. Parsing is pure
header work: nothing here touches the database, so requests without the headers pay
nothing, and the service compares the tag against the row it reads anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Response

from ticket_service.errors import AppError, BadRequest, ErrorResponse

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


class PreconditionFailed(AppError):
    status_code = 412
    code = "precondition_failed"
    message = "The resource changed since you read it (If-Match); reload and try again"

    def __init__(self, current: str) -> None:
        super().__init__(details={"etag": current})
        # The current tag rides along, as on a 2xx: the client need not re-read to retry.
        self.headers = {"ETag": current}


class InvalidPrecondition(BadRequest):
    code = "invalid_precondition"
    message = "Malformed If-Match / If-None-Match header"


def ticket_etag(version: int) -> str:
    return f'"{version}"'


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def comment_etag(comment_id: int, written_at: datetime) -> str:
    stamp = (written_at - _EPOCH) // _MICROSECOND  # exact: no float on the way
    return f'"c{comment_id}-{stamp}"'


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed `If-Match` or `If-None-Match`: `*`, or a list of (weak, opaque-tag)."""

    any: bool
    tags: tuple[tuple[bool, str], ...] = ()

    def matches_strong(self, current: str) -> bool:
        """If-Match (strong comparison: a weak tag never matches)."""
        return self.any or any(not weak and tag == current for weak, tag in self.tags)

    def matches_weak(self, current: str) -> bool:
        """If-None-Match (weak comparison)."""
        return self.any or any(tag == current for _, tag in self.tags)


def parse_condition(header: str | None, name: str) -> Condition | None:
    """None when the header is absent; 400 `invalid_precondition` when it is malformed."""
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        return Condition(any=True)
    tags: list[tuple[bool, str]] = []
    position = 0
    while position < len(value):
        found = _TAG.match(value, position)
        if found is None or found.end() == position:
            raise InvalidPrecondition(details={"header": name})
        tags.append((found.group(1) is not None, found.group(2)))
        position = found.end()
    if not tags:
        raise InvalidPrecondition(details={"header": name})
    return Condition(any=False, tags=tuple(tags))


def check_if_match(condition: Condition | None, current: str) -> None:
    """412 `precondition_failed` (details and `ETag`: the current tag) when stale."""
    if condition is not None and not condition.matches_strong(current):
        raise PreconditionFailed(current)


async def _if_match(
    if_match: Annotated[
        str | None,
        Header(
            description='Send the `ETag` you read (`"3"`) to refuse the change when the '
            "resource moved on since (412 `precondition_failed`); `*`: any existing one"
        ),
    ] = None,
) -> Condition | None:
    return parse_condition(if_match, "If-Match")


async def _if_none_match(
    if_none_match: Annotated[
        str | None,
        Header(description="The `ETag` you hold: 304 without a body while it is current"),
    ] = None,
) -> Condition | None:
    return parse_condition(if_none_match, "If-None-Match")


IfMatch = Annotated[Condition | None, Depends(_if_match)]
IfNoneMatch = Annotated[Condition | None, Depends(_if_none_match)]


def not_modified(condition: Condition | None, current: str) -> Response | None:
    """The 304 answer to a GET whose `If-None-Match` names the current tag, else None."""
    if condition is not None and condition.matches_weak(current):
        return Response(status_code=304, headers={"ETag": current})
    return None


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


ETAG_HEADER = {"ETag": _header('The ticket\'s entity tag, its version quoted: `"3"`')}
# OpenAPI `responses=` entries.
PRECONDITION_FAILED: dict[int | str, dict[str, Any]] = {
    412: {
        "model": ErrorResponse,
        "description": "`If-Match` names a stale tag (`precondition_failed`, "
        "`details.etag` and the `ETag` header: the current one)",
        "headers": ETAG_HEADER,
    }
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "`If-None-Match` names the current tag: no body", "headers": ETAG_HEADER}
}
