"""Daily pruning of finished async actions (requests accepted with `Prefer: respond-async`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import procrastinate
import structlog
from sqlalchemy import delete

from ticket_service.actions.models import ActionStatus, AsyncAction
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import resources_of

log = structlog.get_logger(__name__)
FINISHED = [status.value for status in ActionStatus if status.is_final]


@jobs.periodic(cron="47 3 * * *", periodic_id="prune_async_actions")
@jobs.task(name="prune_async_actions", queueing_lock="prune_async_actions", pass_context=True)
async def prune_async_actions(context: procrastinate.JobContext, timestamp: int) -> int:
    """Daily: forget actions that finished more than ASYNC_ACTIONS_KEEP_DAYS ago; their
    `GET /api/v1/actions/{guid_action}` answers 404 from then on. A queued or running
    action is never removed, however old: its caller is still waiting for it."""
    resources = resources_of(context)
    cutoff = datetime.now(UTC) - timedelta(days=resources.settings.async_actions_keep_days)
    async with resources.sessionmaker() as session, session.begin():
        # updated_at is when the outcome was written (the worker's last change of the row).
        result = await session.execute(
            delete(AsyncAction).where(
                AsyncAction.status.in_(FINISHED), AsyncAction.updated_at < cutoff
            )
        )
    removed = int(result.rowcount)  # type: ignore[attr-defined]
    log.info("pruned_async_actions", removed=removed)
    return removed
