"""The SLA scanner's periodic job (the worker runs it; one at a time cluster-wide)."""

from __future__ import annotations

import procrastinate

from ticket_service.sla.scanner import scan
from ticket_service.worker.registry import jobs
from ticket_service.worker.resources import resources_of


@jobs.periodic(cron="* * * * *", periodic_id="sla_scan")
@jobs.task(name="sla_scan", queueing_lock="sla_scan", pass_context=True)
async def sla_scan(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute: SLA warnings and breaches, auto-close warnings and auto-closes
    (sla/scanner.py). Returns how many events it recorded."""
    resources = resources_of(context)
    async with resources.sessionmaker() as session, session.begin():
        result = await scan(session)
    return sum(result.recorded.values()) + result.auto_close_warnings + result.auto_closed
