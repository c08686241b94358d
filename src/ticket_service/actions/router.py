"""Requests through the queue: `Prefer: respond-async` (RFC 7240) and `GET /api/v1/actions`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.actions import service
from ticket_service.actions.schemas import Accepted, ActionOut
from ticket_service.actions.service import Api
from ticket_service.auth.dependencies import CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.users.models import User

router = APIRouter(prefix="/api/v1/actions", tags=["actions"])


async def _respond_async(
    prefer: Annotated[
        str | None,
        Header(
            description="`respond-async` (RFC 7240): answer 202 at once and perform the "
            "request in the background; follow it at the `Location` given"
        ),
    ] = None,
) -> bool:
    preferences = (prefer or "").split(",")
    return any(
        p.split(";")[0].split("=")[0].strip().lower() == "respond-async" for p in preferences
    )


RespondAsync = Annotated[bool, Depends(_respond_async)]

# OpenAPI `responses=` entry for the endpoints that honour `Prefer: respond-async`.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Accepted,
        "description": "Sent with `Prefer: respond-async`: authenticated, validated and queued",
        "headers": {
            "Location": {
                "description": "`/api/v1/actions/{guid_action}`: where to follow the request",
                "schema": {"type": "string"},
            },
            "Preference-Applied": {
                "description": "`respond-async`",
                "schema": {"type": "string"},
            },
        },
    }
}


async def accept(
    session: AsyncSession, user: User, action: ActionRecord, api: Api, body: BaseModel
) -> JSONResponse:
    """Queue the request in the caller's transaction and answer 202 at once."""
    await service.enqueue(session, user, action, api, body)
    return JSONResponse(
        Accepted(guid_action=action.guid_action).model_dump(mode="json"),
        status_code=202,
        headers={
            "Location": f"{router.prefix}/{action.guid_action}",
            "Preference-Applied": "respond-async",
        },
    )


@router.get(
    "/{guid_action}",
    summary="Follow a request sent with Prefer: respond-async",
    responses=responses(401, 404, 422),
)
async def get_action(
    action: Annotated[ActionRecord, Depends(Action("get_action"))],
    guid_action: uuid.UUID,
    user: CurrentUser,
    session: Session,
) -> ActionOut:
    """The state of a queued request, read from PostgreSQL (the truth); the worker writes
    the same outcome to the Redis action log `logs:actions:<guid_action>` for the seed's
    log. `result` and `status_code` are what the synchronous call would have answered.
    Only the caller who made the request, or an admin, may read it; anyone else gets 404."""
    found = await service.get_action(session, user, guid_action)
    return ActionOut.model_validate(found, from_attributes=True)
