"""`record_event(...)`: every change of a ticket goes through here, inside the change's own
transaction, so its history row, its deliveries and their jobs commit or roll back with it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.events.registry import Kind
from ticket_service.events.write import prepare
from ticket_service.notifications.service import card_due, defer_card, deliveries_for, on_event
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import User


def stage_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: Kind,
    actor: User | None,
    *,
    guid_action: uuid.UUID | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Add the event row to the session, unwritten: a change that records several events
    (taking a ticket: assigned, then status_changed) writes them all in one flush with
    `publish`. `actor` None is the service itself (an automatic assignment, a scanner)."""
    event = TicketEvent(
        ticket=ticket,
        kind=kind.value,
        actor_id=actor.id if actor else None,
        from_status=from_status,
        to_status=to_status,
        guid_action=guid_action,
        data=data or {},
    )
    session.add(event)
    return event


async def publish(
    session: AsyncSession, ticket: Ticket, events: Sequence[TicketEvent], *, last: bool = False
) -> None:
    """Write the staged events (with any pending change of the ticket) and the
    notifications they call for. `ticket` must be loaded with its author, assignee and
    service. The common shape is one statement (events.write); anything else is flushed,
    then each event's deliveries inserted. `last`: the caller writes nothing after this,
    so the statement may commit by itself (`db.write_last`) unless a card job follows it."""
    change = prepare(session, ticket, events)
    if change is None:
        await session.flush()
        for event in events:
            await on_event(session, event, ticket)
        return
    # Reading the followers or the admins must not flush what the statement will write.
    with session.no_autoflush:
        targets = [await deliveries_for(session, event, ticket) for event in events]
    carded = bool(events) and card_due(session, ticket)
    await change.write(session, targets, last=last and not carded)
    if carded:
        await defer_card(session, ticket)


async def record_event(
    session: AsyncSession,
    ticket: Ticket,
    kind: Kind,
    actor: User | None,
    *,
    guid_action: uuid.UUID | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
    last: bool = False,
) -> TicketEvent:
    """Stage one event and publish it: the common case. `last`: as `publish`'s."""
    event = stage_event(
        session,
        ticket,
        kind,
        actor,
        guid_action=guid_action,
        from_status=from_status,
        to_status=to_status,
        data=data,
    )
    await publish(session, ticket, [event], last=last)
    return event


async def announce(session: AsyncSession, event: TicketEvent, ticket: Ticket) -> None:
    """The notifications of an event row written set-based (the SLA scanner's INSERT ...
    ON CONFLICT DO NOTHING, which records each breach once however many scanners run);
    what `record_event` does after its INSERT."""
    await on_event(session, event, ticket)
