"""v1 ticket API: plain resources, `{items, next_cursor}` lists, 404 for what you may not see."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ticket_service.actions.router import ACCEPTED, RespondAsync, accept
from ticket_service.auth.dependencies import CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.idempotency.dependencies import IDEMPOTENCY_RESPONSES, idempotent
from ticket_service.kit.preconditions import (
    ETAG_HEADER,
    NOT_MODIFIED,
    PRECONDITION_FAILED,
    IfMatch,
    IfNoneMatch,
    not_modified,
    ticket_etag,
)
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.tickets import service
from ticket_service.tickets.dependencies import Filters, filter_params, next_cursor
from ticket_service.tickets.schemas import (
    EventList,
    EventOut,
    StatusChange,
    TicketCreate,
    TicketOut,
    TicketPage,
    ticket_out,
)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])


@router.post(
    "",
    status_code=201,
    summary="Open a ticket",
    response_model=TicketOut,
    responses={
        201: {"description": "Opened", "headers": ETAG_HEADER},
        **ACCEPTED,
        **responses(400, 401, 413, 422),
        **IDEMPOTENCY_RESPONSES,
    },
)
@idempotent
async def create_ticket(
    action: Annotated[ActionRecord, Depends(Action("open_ticket"))],
    body: TicketCreate,
    user: CurrentUser,
    session: Session,
    response: Response,
    respond_async: RespondAsync,
) -> TicketOut | Response:
    """Open a ticket as the caller. The title defaults to the first line of the text.
    With `Prefer: respond-async`: 202, and the worker opens it (`Location` tells the outcome).
    With `Idempotency-Key`: a repeat within 24 h answers this response again."""
    if respond_async:
        return await accept(session, user, action, "v1", body)
    action.set_params(body.model_dump(exclude={"text"}, exclude_none=True))
    ticket = await service.open_ticket(session, user, body, action.guid_action, last=True)
    action.guid_ticket = ticket.id
    response.headers["Location"] = f"/api/v1/tickets/{ticket.id}"
    response.headers["ETag"] = ticket_etag(ticket.version)
    return ticket_out(ticket)


@router.get("", summary="List tickets", responses=responses(400, 401, 422))
async def list_tickets(
    action: Annotated[ActionRecord, Depends(Action("get_tickets"))],
    filters: Filters,
    user: CurrentUser,
    session: Session,
) -> TicketPage:
    """Tickets visible to the caller, filtered; newest first, or best match first with
    `q` and `sort=relevance`. Follow `next_cursor` for more (a cursor belongs to its sort:
    with another `sort` it is 400 `invalid_cursor`)."""
    action.set_params(filter_params(filters))
    tickets, last = await service.list_tickets(session, user, filters)
    return TicketPage(
        items=tickets,
        next_cursor=next_cursor(filters, last),
    )


@router.get(
    "/{guid_ticket}",
    summary="Get one ticket",
    response_model=TicketOut,
    responses={
        200: {"description": "The ticket", "headers": ETAG_HEADER},
        **NOT_MODIFIED,
        **responses(400, 401, 404, 422),
    },
)
async def get_ticket(
    action: Annotated[ActionRecord, Depends(Action("get_ticket"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
    response: Response,
    if_none_match: IfNoneMatch,
) -> TicketOut | Response:
    """The ticket, with its `ETag` (its version, quoted). With `If-None-Match` naming
    the current tag: 304 and no body."""
    action.guid_ticket = guid_ticket
    ticket = await service.view_ticket(session, user, guid_ticket)
    etag = ticket_etag(ticket.version)
    if (unchanged := not_modified(if_none_match, etag)) is not None:
        return unchanged
    response.headers["ETag"] = etag
    return ticket


@router.post(
    "/{guid_ticket}/status",
    summary="Change a ticket's status",
    responses={
        200: {"description": "The ticket after the change", "headers": ETAG_HEADER},
        **responses(400, 401, 403, 404, 409, 422),
        **PRECONDITION_FAILED,
    },
)
async def change_status(
    action: Annotated[ActionRecord, Depends(Action("change_status"))],
    guid_ticket: uuid.UUID,
    body: StatusChange,
    user: CurrentUser,
    session: Session,
    response: Response,
    if_match: IfMatch,
) -> TicketOut:
    """Move a ticket along the workflow. Agents may make every transition; the author may
    withdraw (→ closed_fail) or reopen (closed_* → open). Send the `ETag` you read as
    `If-Match` (412 `precondition_failed` when the ticket moved on since), or `version`
    in the body (409 `version_conflict`)."""
    action.guid_ticket = guid_ticket
    action.set_params(body.model_dump(exclude_none=True))
    ticket = await service.change_status(
        session,
        user,
        guid_ticket,
        body.status,
        action.guid_action,
        body.version,
        if_match=if_match,
        last=True,
    )
    response.headers["ETag"] = ticket_etag(ticket.version)
    return ticket_out(ticket)


@router.get(
    "/{guid_ticket}/events", summary="A ticket's history", responses=responses(401, 404, 422)
)
async def ticket_events(
    action: Annotated[ActionRecord, Depends(Action("get_ticket_events"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
) -> EventList:
    """Every recorded change of the ticket, oldest first."""
    action.guid_ticket = guid_ticket
    rows = await service.history(session, user, guid_ticket)
    return EventList(
        items=[
            EventOut(
                id=event.id,
                kind=event.kind,
                actor=actor,
                from_status=event.from_status,
                to_status=event.to_status,
                guid_action=event.guid_action,
                data=event.data,
                created_at=event.created_at,
            )
            for event, actor in rows
        ]
    )
