from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StrictInt, StringConstraints, TypeAdapter

from ticket_service.kit.schemas import CleanText, RequestModel
from ticket_service.ratings.schemas import RatingOut
from ticket_service.sla.schemas import SlaOut, sla_view
from ticket_service.vocabulary import Priority, Status, one_of

ServiceSlug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
TicketText = Annotated[CleanText, Field(min_length=1, max_length=10000)]


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("a title is one line")
    return value


TicketTitle = Annotated[CleanText, Field(min_length=1, max_length=200), AfterValidator(_one_line)]


class TicketCreate(RequestModel):
    text: TicketText = Field(description="What is needed; the first line becomes the title")
    title: TicketTitle | None = None
    service: ServiceSlug | None = Field(default=None, description="Service slug; default `general`")
    priority: Priority = Priority.normal

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"text": "Не работает VPN\nС утра не подключается из дома.", "service": "general"}
            ]
        },
    }


class TicketCreateQuery(TicketCreate):
    """The same fields as query parameters (the seed's GET); other parameters are ignored."""

    model_config = {"extra": "ignore"}


class StatusChange(RequestModel):
    status: str = Field(max_length=64, description=one_of(Status))
    # Strict: the schema says integer; `"3"` or `3.0` are a 422 like any other wrong type.
    version: StrictInt | None = Field(
        default=None, ge=1, description="Expected current version; 409 when it moved on"
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"status": "processing"}]},
    }


class SeedStatusChange(RequestModel):
    guid_ticket: uuid.UUID
    new_status: str = Field(max_length=64)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"guid_ticket": "6f1c2b1e-2f0e-4d55-9a35-0c1d1f0e9a10", "new_status": "processing"}
            ]
        },
    }


class SeedStatusChangeQuery(SeedStatusChange):
    model_config = {"extra": "ignore"}


class TicketOut(BaseModel):
    guid_ticket: uuid.UUID
    number: int
    title: str
    text: str
    status: str
    priority: str
    service: str
    author: str = Field(description="Discord id of the author")
    assignee: str | None = Field(description="Discord id of the agent working it")
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    version: int
    comments: int = Field(description="How many public comments it has (internal notes aside)")
    rating: RatingOut | None = Field(
        default=None, description="The author's satisfaction rating, once given (after close)"
    )
    sla: SlaOut | None = Field(
        default=None, description="Its SLA as of the database's clock; null: under no SLA"
    )


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class EventOut(BaseModel):
    id: int
    kind: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    guid_action: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


class EventList(BaseModel):
    items: list[EventOut]


class SeedTicketResult(TicketOut):
    """The seed's answer to open and change_status: the ticket's fields flat beside the
    action's id, where the original clients read them (`response["guid_ticket"]`)."""

    guid_action: uuid.UUID

    @classmethod
    def of(cls, guid_action: uuid.UUID, ticket: TicketOut) -> SeedTicketResult:
        return cls(guid_action=guid_action, **dict(ticket))


class SeedTicketResponse(BaseModel):
    response: SeedTicketResult


class SeedTicketList(BaseModel):
    relevant_tickets: list[TicketOut]
    next_cursor: str | None


class SeedTicketListResponse(BaseModel):
    response: SeedTicketList


_TICKET_LIST = TypeAdapter(list[TicketOut])


def ticket_rows_out(rows: Sequence[Any]) -> list[TicketOut]:
    """Render rows carrying TicketOut's fields as attributes (the list query's rows), in
    one call into pydantic-core rather than one model per row from Python. Rows with the
    SLA columns and `db_now` (tickets.repository._VIEW_COLUMNS) get their `sla`."""
    tickets = _TICKET_LIST.validate_python(rows, from_attributes=True)
    for ticket, row in zip(tickets, rows, strict=True):
        if getattr(row, "sla_policy_id", None) is not None:
            ticket.sla = sla_view(row, row.db_now)
    return tickets


def ticket_out(ticket: Any) -> TicketOut:
    """Render a Ticket loaded with its author, assignee, service and rating."""
    return TicketOut(
        guid_ticket=ticket.id,
        number=ticket.number,
        title=ticket.title,
        text=ticket.text,
        status=ticket.status,
        priority=ticket.priority,
        service=ticket.service.slug,
        author=ticket.author.discord_id,
        assignee=ticket.assignee.discord_id if ticket.assignee else None,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        closed_at=ticket.closed_at,
        version=ticket.version,
        comments=ticket.public_comments,
        rating=(
            RatingOut(
                score=ticket.rating.score,
                comment=ticket.rating.comment,
                created_at=ticket.rating.created_at,
            )
            if ticket.rating
            else None
        ),
        # "Now" is the database's instant of the write this answers.
        sla=sla_view(ticket, ticket.updated_at),
    )
