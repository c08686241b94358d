"""The SLA scanner: one set-based pass over the tickets, run every minute by the worker
(sla/tasks.py) and directly by the tests with the `now` they choose.

- `sla_warning` at 80% and `sla_breached` at 100% of each target, each recorded once per
  ticket and target: an INSERT ... SELECT ... ON CONFLICT DO NOTHING against the unique
  index `uq_ticket_events_sla_once`, so a second scanner running at the same time waits for
  the first's rows and then inserts nothing.
- `auto_close_warning` one business day before a waiting ticket closes: claimed by
  clearing `auto_close_warn_at` (an UPDATE ... RETURNING; a concurrent scanner's UPDATE
  re-reads the row after the first commits and no longer matches).
- `auto_closed`: waiting tickets past `auto_close_at`, locked with SKIP LOCKED, move to
  closed_fail through `tickets.service.move`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from ticket_service.events.record import announce, record_event
from ticket_service.events.registry import Kind
from ticket_service.sla import repository
from ticket_service.tickets import service as tickets
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.vocabulary import SlaTarget, Status

log = structlog.get_logger(__name__)

# Per check and pass: a backlog (the first run after an outage) is worked off in a few
# minutes rather than one huge transaction.
BATCH = 500

_FIRST_OPEN = "t.first_response_at IS NULL AND t.closed_at IS NULL"
# (kind, target, the condition at :now) in the order they are recorded: a ticket crossing
# both 80% and 100% since the last pass gets its warning first.
CHECKS: tuple[tuple[Kind, SlaTarget, str], ...] = (
    (
        Kind.sla_warning,
        SlaTarget.first_response,
        f"{_FIRST_OPEN} AND t.first_response_warn_at <= :now",
    ),
    (Kind.sla_warning, SlaTarget.resolution, "t.resolution_warn_at <= :now"),
    (
        Kind.sla_breached,
        SlaTarget.first_response,
        f"{_FIRST_OPEN} AND t.first_response_due_at <= :now",
    ),
    (Kind.sla_breached, SlaTarget.resolution, "t.resolution_due_at <= :now"),
)

_RECORD = """
INSERT INTO ticket_events (ticket_id, kind, data)
SELECT t.id, CAST(:kind AS text), jsonb_build_object('target', CAST(:target AS text))
FROM tickets t
WHERE {condition}
  AND NOT EXISTS (
    SELECT 1 FROM ticket_events e
    WHERE e.ticket_id = t.id AND e.kind = CAST(:kind AS text)
      AND e.data ->> 'target' = CAST(:target AS text)
  )
ORDER BY t.id
LIMIT :batch
ON CONFLICT (ticket_id, kind, (data ->> 'target'))
  WHERE kind IN ('sla_warning', 'sla_breached') DO NOTHING
RETURNING id
"""

_MARK_BREACHED = text(
    "UPDATE tickets SET sla_breached_at = :now WHERE id = ANY(:ids) AND sla_breached_at IS NULL"
)

_CLAIM_AUTO_CLOSE_WARNINGS = text(
    """
    UPDATE tickets SET auto_close_warn_at = NULL
    WHERE id IN (
        SELECT id FROM tickets
        WHERE auto_close_warn_at <= :now AND status = 'waiting'
        ORDER BY auto_close_warn_at LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    AND auto_close_warn_at IS NOT NULL
    RETURNING id
    """
)

_WITH_PEOPLE = select(Ticket).options(
    joinedload(Ticket.author, innerjoin=True),
    joinedload(Ticket.assignee),
    joinedload(Ticket.service, innerjoin=True),
)


@dataclass
class ScanResult:
    """What one pass recorded: (kind, target) → how many, breaches by service, closes."""

    recorded: Counter[tuple[str, str]] = field(default_factory=Counter)
    breaches: Counter[tuple[str, str]] = field(default_factory=Counter)
    auto_close_warnings: int = 0
    auto_closed: int = 0


async def _tickets_by_id(session: AsyncSession, ids: list[Any]) -> dict[Any, Ticket]:
    if not ids:
        return {}
    rows = await session.scalars(_WITH_PEOPLE.where(Ticket.id.in_(ids)))
    return {ticket.id: ticket for ticket in rows.unique()}


async def _escalate(session: AsyncSession, now: datetime, result: ScanResult) -> None:
    for kind, target, condition in CHECKS:
        inserted = await session.execute(
            text(_RECORD.format(condition=condition)),
            {"kind": kind.value, "target": target.value, "now": now, "batch": BATCH},
        )
        event_ids = [row[0] for row in inserted]
        if not event_ids:
            continue
        events = list(
            (await session.scalars(select(TicketEvent).where(TicketEvent.id.in_(event_ids)))).all()
        )
        ticket_ids = [event.ticket_id for event in events]
        found = await _tickets_by_id(session, ticket_ids)
        if kind is Kind.sla_breached:
            await session.execute(_MARK_BREACHED, {"now": now, "ids": ticket_ids})
        for event in sorted(events, key=lambda e: e.id):
            ticket = found[event.ticket_id]
            await announce(session, event, ticket)
            result.recorded[kind.value, target.value] += 1
            if kind is Kind.sla_breached:
                result.breaches[ticket.service.slug, target.value] += 1


async def _warn_auto_close(session: AsyncSession, now: datetime, result: ScanResult) -> None:
    claimed = await session.execute(_CLAIM_AUTO_CLOSE_WARNINGS, {"now": now, "batch": BATCH})
    ids = [row[0] for row in claimed]
    for ticket in (await _tickets_by_id(session, ids)).values():
        await record_event(
            session,
            ticket,
            Kind.auto_close_warning,
            None,
            data={"closes_at": ticket.auto_close_at.isoformat() if ticket.auto_close_at else None},
        )
        result.auto_close_warnings += 1


async def _auto_close(session: AsyncSession, now: datetime, result: ScanResult) -> None:
    due = (
        _WITH_PEOPLE.where(Ticket.status == Status.waiting.value, Ticket.auto_close_at <= now)
        .order_by(Ticket.auto_close_at)
        .limit(BATCH)
        .with_for_update(of=Ticket, skip_locked=True)
    )
    for ticket in (await session.scalars(due)).unique().all():
        days = (
            (ticket.auto_close_at - ticket.waiting_since).days
            if ticket.waiting_since and ticket.auto_close_at
            else None
        )
        await tickets.move(session, ticket, Status.closed_fail, None, reason="auto_closed")
        await record_event(
            session,
            ticket,
            Kind.auto_closed,
            None,
            from_status=Status.waiting.value,
            to_status=Status.closed_fail.value,
            data={"waited_days": days},
        )
        result.auto_closed += 1


async def scan(session: AsyncSession, now: datetime | None = None) -> ScanResult:
    """One pass, in the caller's transaction. `now`: the instant to judge by (default the
    database's `now()`; tests pass one to move time)."""
    if now is None:
        now = await repository.db_now(session)
    result = ScanResult()
    await _escalate(session, now, result)
    await _warn_auto_close(session, now, result)
    await _auto_close(session, now, result)
    if result.recorded or result.auto_close_warnings or result.auto_closed:
        log.info(
            "sla_scan",
            recorded={f"{k}:{t}": n for (k, t), n in result.recorded.items()},
            auto_close_warnings=result.auto_close_warnings,
            auto_closed=result.auto_closed,
        )
    return result
