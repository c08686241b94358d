"""The seed's paths, kept exactly for the original clients: `{"response": ...}` bodies.

POST takes a JSON body; GET takes query parameters and is kept, deprecated, because the
original clients call it that way. Both run the same services as the v1 API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ticket_service.actions.router import ACCEPTED, RespondAsync, accept
from ticket_service.auth.dependencies import CurrentUser
from ticket_service.db import Session, writes_on_get
from ticket_service.errors import responses
from ticket_service.idempotency.dependencies import IDEMPOTENCY_RESPONSES, idempotent
from ticket_service.kit.preconditions import (
    ETAG_HEADER,
    PRECONDITION_FAILED,
    Condition,
    IfMatch,
    ticket_etag,
)
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.tickets import service
from ticket_service.tickets.dependencies import Filters, filter_params, next_cursor
from ticket_service.tickets.schemas import (
    SeedStatusChange,
    SeedStatusChangeQuery,
    SeedTicketList,
    SeedTicketListResponse,
    SeedTicketResponse,
    SeedTicketResult,
    TicketCreate,
    TicketCreateQuery,
    ticket_out,
)
from ticket_service.users.models import User

router = APIRouter(prefix="/api/tickets", tags=["seed API"])

OpenAction = Annotated[ActionRecord, Depends(Action("open_ticket"))]
ChangeAction = Annotated[ActionRecord, Depends(Action("change_status"))]


_TICKET_ETAG: dict[int | str, dict[str, Any]] = {
    200: {"description": "The ticket", "headers": ETAG_HEADER}
}


async def _open(
    body: TicketCreate, user: User, session: Session, action: ActionRecord, response: Response
) -> SeedTicketResponse:
    action.set_params(body.model_dump(exclude={"text"}, exclude_none=True))
    ticket = await service.open_ticket(session, user, body, action.guid_action, last=True)
    action.guid_ticket = ticket.id
    response.headers["ETag"] = ticket_etag(ticket.version)
    return SeedTicketResponse(response=SeedTicketResult.of(action.guid_action, ticket_out(ticket)))


async def _change(
    body: SeedStatusChange,
    user: User,
    session: Session,
    action: ActionRecord,
    response: Response,
    if_match: Condition | None,
) -> SeedTicketResponse:
    action.guid_ticket = body.guid_ticket
    action.set_params({"guid_ticket": str(body.guid_ticket), "new_status": body.new_status})
    ticket = await service.change_status(
        session,
        user,
        body.guid_ticket,
        body.new_status,
        action.guid_action,
        if_match=if_match,
        last=True,
    )
    response.headers["ETag"] = ticket_etag(ticket.version)
    return SeedTicketResponse(response=SeedTicketResult.of(action.guid_action, ticket_out(ticket)))


@router.post(
    "/open",
    summary="Open a ticket (seed)",
    response_model=SeedTicketResponse,
    responses={
        **_TICKET_ETAG,
        **ACCEPTED,
        **responses(400, 401, 413, 422),
        **IDEMPOTENCY_RESPONSES,
    },
)
@idempotent
async def open_ticket(
    body: TicketCreate,
    user: CurrentUser,
    session: Session,
    action: OpenAction,
    respond_async: RespondAsync,
    response: Response,
) -> SeedTicketResponse | Response:
    """Open a ticket; answers the ticket and the `guid_action` of this action.
    With `Prefer: respond-async`: 202, and the worker opens it (`Location` tells the outcome).
    With `Idempotency-Key`: a repeat within 24 h answers this response again."""
    if respond_async:
        return await accept(session, user, action, "seed", body)
    return await _open(body, user, session, action, response)


@router.get(
    "/open",
    summary="Open a ticket (seed, query parameters)",
    deprecated=True,
    responses={**_TICKET_ETAG, **responses(400, 401, 422), **IDEMPOTENCY_RESPONSES},
)
@writes_on_get
@idempotent
async def open_ticket_get(
    action: OpenAction,
    params: Annotated[TicketCreateQuery, Query()],
    user: CurrentUser,
    session: Session,
    response: Response,
) -> SeedTicketResponse:
    """Kept for the original clients; use `POST /api/tickets/open` or `POST /api/v1/tickets`.
    It writes, so it honours `Idempotency-Key` like the POST (the query string is the
    request compared)."""
    return await _open(params, user, session, action, response)


@router.post(
    "/change_status",
    summary="Change a ticket's status (seed)",
    response_model=SeedTicketResponse,
    responses={
        **_TICKET_ETAG,
        **ACCEPTED,
        **responses(400, 401, 403, 404, 409, 422),
        **PRECONDITION_FAILED,
    },
)
async def change_status(
    body: SeedStatusChange,
    user: CurrentUser,
    session: Session,
    action: ChangeAction,
    respond_async: RespondAsync,
    response: Response,
    if_match: IfMatch,
) -> SeedTicketResponse | Response:
    """Same status as now, a transition the workflow lacks or an unknown status → 400;
    not allowed → 403; unknown or invisible ticket → 404; `If-Match` with a stale tag →
    412. With `Prefer: respond-async`: 202, and the worker makes the change; these errors
    then appear at `Location` (with `If-Match` the change is always made at once: the
    condition is about the ticket as it is now)."""
    if respond_async and if_match is None:
        return await accept(session, user, action, "seed", body)
    return await _change(body, user, session, action, response, if_match)


@router.get(
    "/change_status",
    summary="Change a ticket's status (seed, query parameters)",
    deprecated=True,
    responses={
        **_TICKET_ETAG,
        **responses(400, 401, 403, 404, 409, 422),
        **PRECONDITION_FAILED,
    },
)
@writes_on_get
async def change_status_get(
    action: ChangeAction,
    params: Annotated[SeedStatusChangeQuery, Query()],
    user: CurrentUser,
    session: Session,
    response: Response,
    if_match: IfMatch,
) -> SeedTicketResponse:
    """Kept for the original clients; use the POST form."""
    return await _change(params, user, session, action, response, if_match)


@router.get("/get", summary="List tickets (seed)", responses=responses(400, 401, 422))
async def get_tickets(
    action: Annotated[ActionRecord, Depends(Action("get_tickets"))],
    filters: Filters,
    user: CurrentUser,
    session: Session,
) -> SeedTicketListResponse:
    """Tickets visible to the caller, newest first; tickets you may not see are simply absent."""
    action.set_params(filter_params(filters))
    tickets, last = await service.list_tickets(session, user, filters)
    return SeedTicketListResponse(
        response=SeedTicketList(
            relevant_tickets=tickets,
            next_cursor=next_cursor(filters, last),
        )
    )
