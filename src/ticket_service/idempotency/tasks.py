"""Hourly pruning of idempotency keys past IDEMPOTENCY_TTL_HOURS."""

from __future__ import annotations

from datetime import timedelta

import procrastinate
import structlog

from ticket_service.idempotency import repository
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import resources_of

log = structlog.get_logger(__name__)


@jobs.periodic(cron="23 * * * *", periodic_id="prune_idempotency_keys")
@jobs.task(name="prune_idempotency_keys", queueing_lock="prune_idempotency_keys", pass_context=True)
async def prune_idempotency_keys(context: procrastinate.JobContext, timestamp: int) -> int:
    """Hourly: forget keys older than IDEMPOTENCY_TTL_HOURS (by the database clock). An
    expired key still in the table is taken over by its next use anyway; this only keeps
    the table small."""
    resources = resources_of(context)
    ttl = timedelta(hours=resources.settings.idempotency_ttl_hours)
    async with resources.sessionmaker() as session, session.begin():
        removed = await repository.prune(session, ttl)
    log.info("pruned_idempotency_keys", removed=removed)
    return removed
