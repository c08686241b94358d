"""The job that performs a request accepted with `Prefer: respond-async`."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import procrastinate
import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.actions import repository
from ticket_service.actions.models import ActionStatus, AsyncAction
from ticket_service.errors import AppError, ErrorBody
from ticket_service.ops.action_log import ActionRecord, body_params, write_record
from ticket_service.tickets import service as tickets
from ticket_service.tickets.schemas import (
    SeedStatusChange,
    SeedTicketResponse,
    SeedTicketResult,
    TicketCreate,
    ticket_out,
)
from ticket_service.users.models import User
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import Resources, resources_of

log = structlog.get_logger(__name__)
# An unexpected error (database hiccup, bug) is retried; after the last retry the action
# is recorded as failed with 500, so nobody waits on it forever.
RETRIES = 5


@jobs.task(
    name="perform_action",
    pass_context=True,
    queue="actions",
    retry=procrastinate.RetryStrategy(max_attempts=RETRIES, exponential_wait=2),
)
async def perform_action(context: procrastinate.JobContext, guid_action: str) -> str:
    """Perform a queued request as its caller, with the role the caller has now, and record
    the outcome on its row (the truth) and in its `logs:actions:<guid_action>` record."""
    resources = resources_of(context)
    guid = uuid.UUID(guid_action)
    try:
        return await _perform(resources, guid)
    except Exception:
        if context.job.attempts < RETRIES:
            raise
        error = ErrorBody(code="internal_error", message="The action could not be performed")
        await _record(resources, guid, None, 500, error)
        raise


async def _perform(resources: Resources, guid: uuid.UUID) -> str:
    async with resources.sessionmaker() as session, session.begin():
        action = await repository.locked(session, guid)
        if action is None:
            log.info("action_gone", guid_action=str(guid))
            return "gone"
        if ActionStatus(action.status).is_final:
            return action.status  # a duplicate job: done already
        action.status = ActionStatus.running.value
    record = _action_record(action)
    try:
        async with resources.sessionmaker() as session, session.begin():
            action = await repository.locked(session, guid)
            if action is None or ActionStatus(action.status).is_final:
                return "gone" if action is None else action.status  # another job got it
            status_code, result = await _run(session, action, record)
            _finish(action, status_code, result, None)
    except AppError as exc:
        error = ErrorBody(code=exc.code, message=exc.message, details=exc.details)
        await _record(resources, guid, record, exc.status_code, error)
        return ActionStatus.failed.value
    await _log(resources, record, status_code, None)
    return ActionStatus.succeeded.value


def _action_record(action: AsyncAction) -> ActionRecord:
    age = (datetime.now(UTC) - action.created_at).total_seconds()
    record = ActionRecord(
        guid_action=action.guid_action,
        request_id=action.request_id,
        started_at=action.created_at,
        started=time.perf_counter() - age,  # the record spans acceptance to outcome
        type=action.type,
    )
    body = action.payload["body"]
    record.set_params(body_params(body))
    if body.get("guid_ticket"):  # known before the change is tried, as in the request
        record.guid_ticket = uuid.UUID(body["guid_ticket"])
    return record


async def _run(
    session: AsyncSession, action: AsyncAction, record: ActionRecord
) -> tuple[int, BaseModel]:
    """What the synchronous endpoint does: the same service, the same answer."""
    actor = await session.get_one(User, action.actor_id)
    record.actor = actor.discord_id
    body = action.payload["body"]
    if action.type == "open_ticket":
        data = TicketCreate.model_validate(body)
        ticket = await tickets.open_ticket(session, actor, data, action.guid_action)
        if action.payload["api"] == "v1":
            record.guid_ticket = ticket.id
            return 201, ticket_out(ticket)
    elif action.type == "change_status":
        change = SeedStatusChange.model_validate(body)
        ticket = await tickets.change_status(
            session, actor, change.guid_ticket, change.new_status, action.guid_action
        )
    else:
        raise ValueError(f"unknown action type {action.type!r}")
    record.guid_ticket = ticket.id
    result = SeedTicketResult.of(action.guid_action, ticket_out(ticket))
    return 200, SeedTicketResponse(response=result)


def _finish(
    action: AsyncAction, status_code: int, result: BaseModel | None, error: ErrorBody | None
) -> None:
    action.status = (ActionStatus.failed if error else ActionStatus.succeeded).value
    action.status_code = status_code
    action.result = result.model_dump(mode="json") if result else None
    action.error = error.model_dump(mode="json") if error else None


async def _record(
    resources: Resources,
    guid: uuid.UUID,
    record: ActionRecord | None,
    status_code: int,
    error: ErrorBody,
) -> None:
    """A failure, in a transaction of its own (the action's own was rolled back)."""
    async with resources.sessionmaker() as session, session.begin():
        action = await repository.locked(session, guid)
        if action is None or ActionStatus(action.status).is_final:
            return  # an outcome, once recorded, stands
        _finish(action, status_code, None, error)
    await _log(resources, record or _action_record(action), status_code, error.code)


async def _log(
    resources: Resources, record: ActionRecord, status_code: int, error: str | None
) -> None:
    """The seed's action log gets the outcome too; Redis being down only costs the record."""
    if resources.redis is None:
        return
    ttl = resources.settings.action_log_ttl_days * 86400
    await write_record(resources.redis, record, status_code, error, ttl)
