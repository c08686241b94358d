"""v1 ratings API: the author rates a closed ticket."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ticket_service.auth.dependencies import CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.idempotency.dependencies import IDEMPOTENCY_RESPONSES, idempotent
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.ratings import service
from ticket_service.ratings.schemas import RatingCreate, RatingOut

router = APIRouter(prefix="/api/v1/tickets/{guid_ticket}/rating", tags=["ratings"])


@router.post(
    "",
    status_code=201,
    summary="Rate a closed ticket (its author, once)",
    responses={**responses(400, 401, 403, 404, 409, 413, 422), **IDEMPOTENCY_RESPONSES},
)
@idempotent
async def rate_ticket(
    action: Annotated[ActionRecord, Depends(Action("rate_ticket"))],
    guid_ticket: uuid.UUID,
    body: RatingCreate,
    user: CurrentUser,
    session: Session,
    response: Response,
) -> RatingOut:
    """The author of a closed ticket (`closed_success` or `closed_fail`) rates it 1–5,
    with an optional comment, once. Someone else: 403 `not_author`; not closed: 409
    `not_closed`; rated before: 409 `already_rated`. The ticket then shows `rating`."""
    action.guid_ticket = guid_ticket
    action.set_params({"score": body.score})
    rating = await service.rate(
        session, user, guid_ticket, body.score, body.comment, action.guid_action
    )
    response.headers["Location"] = f"/api/v1/tickets/{guid_ticket}"
    return service.rating_out(rating)
