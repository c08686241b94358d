"""Requests accepted with `Prefer: respond-async`: recorded and queued in the request's
transaction, performed later by the worker (actions/tasks.py)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.actions import repository
from ticket_service.actions.models import AsyncAction
from ticket_service.actions.tasks import perform_action
from ticket_service.errors import NotFound
from ticket_service.ops.action_log import ActionRecord, body_params
from ticket_service.users.models import User

Api = Literal["seed", "v1"]


class ActionNotFound(NotFound):
    code = "action_not_found"
    message = "No such action, or it is not visible to you"


async def enqueue(
    session: AsyncSession, actor: User, action: ActionRecord, api: Api, body: BaseModel
) -> None:
    """Record the request and defer its job on the session's own connection: both commit
    (or roll back) with the request, so an accepted request is never lost."""
    if action.type is None:
        raise AssertionError("name the action (Depends(Action(...))) before queueing it")
    data = body.model_dump(mode="json")
    action.set_params(body_params(data))
    action.guid_ticket = getattr(body, "guid_ticket", None)
    action.queued = True
    session.add(
        AsyncAction(
            guid_action=action.guid_action,
            type=action.type,
            actor_id=actor.id,
            request_id=action.request_id,
            payload={"api": api, "body": data},
            created_at=action.started_at,  # the Redis record spans the same time
        )
    )
    await session.flush()
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    await perform_action.configure(connection=raw).defer_async(guid_action=str(action.guid_action))


async def get_action(session: AsyncSession, user: User, guid: uuid.UUID) -> AsyncAction:
    action = await repository.get_visible(session, user, guid)
    if action is None:
        raise ActionNotFound()
    return action
