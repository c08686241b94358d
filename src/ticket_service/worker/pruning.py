"""Daily pruning of procrastinate's finished jobs, with procrastinate's own builtin task.

The builtin `remove_old_jobs` is called from a periodic task of ours rather than scheduled
as it is: its arguments come from the settings the worker runs with, which a periodic
registration made at import time cannot see.
"""

from __future__ import annotations

import procrastinate
import structlog
from procrastinate.builtin_tasks import remove_old_jobs

from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import resources_of

log = structlog.get_logger(__name__)


@jobs.periodic(cron="29 3 * * *", periodic_id="prune_jobs")
@jobs.task(name="prune_jobs", queueing_lock="prune_jobs", pass_context=True)
async def prune_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Daily: forget jobs finished JOBS_KEEP_DAYS ago (succeeded) or JOBS_KEEP_FAILED_DAYS
    ago (failed, cancelled, aborted; 0 keeps them until removed by hand). Waiting and
    running jobs are never touched: the builtin only considers final states."""
    settings = resources_of(context).settings
    await remove_old_jobs(context, max_hours=settings.jobs_keep_days * 24)
    if settings.jobs_keep_failed_days:
        # Failed jobs are kept longer: they are what an operator looks at after an incident.
        await remove_old_jobs(
            context,
            max_hours=settings.jobs_keep_failed_days * 24,
            remove_failed=True,
            remove_cancelled=True,
            remove_aborted=True,
        )
    log.info(
        "pruned_jobs",
        keep_days=settings.jobs_keep_days,
        keep_failed_days=settings.jobs_keep_failed_days or None,
    )
