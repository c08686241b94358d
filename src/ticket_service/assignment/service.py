"""Assignment rules: who may hand a ticket to whom. Services flush; the request commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service import events
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import User


async def assign(
    session: AsyncSession,
    ticket: Ticket,
    assignee: User | None,
    actor: User | None,
    guid_action: uuid.UUID | None = None,
) -> None:
    """Give the ticket to `assignee` (None: to nobody) and record it. The caller has checked
    the rights; `actor` None is the service itself (automatic assignment)."""
    previous = ticket.assignee
    ticket.assignee = assignee
    await events.record(
        session,
        ticket,
        events.Kind.assigned,
        actor,
        guid_action=guid_action,
        data={
            "assignee": assignee.discord_id if assignee else None,
            "previous": previous.discord_id if previous else None,
        },
    )
