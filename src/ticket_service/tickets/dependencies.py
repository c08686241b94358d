from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import BeforeValidator

from ticket_service.kit.pagination import KeyPart, decode_keyset, encode_keyset
from ticket_service.kit.schemas import StorableStr
from ticket_service.tickets.repository import SORTS, TicketFilters
from ticket_service.vocabulary import Priority, Status, one_of

_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def _not_a_number(value: object) -> object:
    # pydantic reads a bare number as Unix time (`0.5` → 1970-01-01); the filter is ISO 8601.
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("expected an ISO 8601 date-time such as 2025-01-31T09:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]


async def ticket_filters(
    guid_ticket: uuid.UUID | None = None,
    # Free-text filters are StorableStr: NUL or a lone surrogate is a 422, not a 500 from SQL.
    author: Annotated[
        StorableStr | None, Query(max_length=32, description="Author's Discord id")
    ] = None,
    status: Annotated[
        str | None,
        Query(max_length=64, description=one_of(Status)),
    ] = None,
    service: Annotated[StorableStr | None, Query(max_length=64, description="Service slug")] = None,
    assignee: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^(me|none|\d+)$",
            description="`me`, `none` (unassigned) or the assignee's Discord id",
        ),
    ] = None,
    follower: Annotated[
        Literal["me"] | None, Query(description="`me`: the tickets you follow")
    ] = None,
    team: Annotated[
        Literal["me"] | None,
        Query(description="`me`: the tickets of the services whose team you are on"),
    ] = None,
    active: Annotated[
        bool, Query(description="`true`: only tickets still being worked (not closed)")
    ] = False,
    priority: Priority | None = None,
    q: Annotated[
        StorableStr | None,
        Query(
            max_length=200,
            description=(
                "Full-text search in title, text and comments (internal notes too for the "
                "ticket's staff); Russian word forms match (принтеры → принтер), e-mails, "
                'codes and ids match as written; `"phrase"`, `or`, `-word` work. '
                "`#123`: ticket 123 only; `123`: ticket 123 and texts containing 123"
            ),
        ),
    ] = None,
    sort: Annotated[
        str,
        Query(
            pattern="^(" + "|".join(SORTS) + ")$",
            description="`newest` (by number, the default), `relevance` (needs `q`) or "
            "`due` (soonest SLA resolution due first; tickets without a running clock last)",
        ),
    ] = "newest",
    created_after: Annotated[IsoDateTime | None, Query(description="ISO 8601, inclusive")] = None,
    created_before: Annotated[IsoDateTime | None, Query(description="ISO 8601, exclusive")] = None,
    sla: Annotated[
        Literal["at_risk", "breached"] | None,
        Query(
            description="`at_risk`: 80% of an SLA target used, not yet missed; "
            "`breached`: a target missed (open or closed tickets)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    # No max_length: any cursor we did not hand out, long ones too, is 400 invalid_cursor.
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> TicketFilters:
    return TicketFilters(
        guid_ticket=guid_ticket,
        author=author,
        status=status,
        service=service,
        assignee=assignee,
        follower=follower,
        team=team,
        active=active,
        priority=priority,
        q=q,
        created_after=created_after,
        created_before=created_before,
        limit=limit,
        sla=sla,
        sort=sort,
        after=decode_keyset(cursor, sort, SORTS[sort].kinds) if cursor else None,
    )


Filters = Annotated[TicketFilters, Depends(ticket_filters)]


def next_cursor(filters: TicketFilters, key: tuple[KeyPart, ...] | None) -> str | None:
    """The `next_cursor` of a page whose last row has sort key `key` (None: last page)."""
    return encode_keyset(filters.sort, key) if key is not None else None


def filter_params(filters: TicketFilters) -> dict[str, object]:
    """The filters worth recording in the action log (what was asked, not defaults)."""
    return {
        key: str(value) if not isinstance(value, int) else value
        for key, value in vars(filters).items()
        # The cursor's position is not a filter; nor are the defaults.
        if value is not None
        and value is not False
        and key != "after"
        and not (key == "sort" and value == "newest")
    }
