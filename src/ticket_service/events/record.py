"""`record_event(...)`: every change of a ticket goes through here, inside the change's own
transaction, so its history row, its deliveries and their jobs commit or roll back with it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.events.registry import Kind
from ticket_service.notifications.service import on_event
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import User


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
) -> TicketEvent:
    """Write the event row (with any pending change of the ticket, in one flush) and the
    notifications it calls for. `ticket` must be loaded with its author, assignee and
    service; `actor` None is the service itself (an automatic assignment, a scanner)."""
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
    await session.flush()
    await on_event(session, event, ticket)
    return event


async def announce(session: AsyncSession, event: TicketEvent, ticket: Ticket) -> None:
    """The notifications of an event row written set-based (the SLA scanner's INSERT ...
    ON CONFLICT DO NOTHING, which records each breach once however many scanners run);
    what `record_event` does after its INSERT."""
    await on_event(session, event, ticket)
