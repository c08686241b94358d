"""SQL of ratings."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.ratings.models import TicketRating
from ticket_service.tickets.models import Ticket


async def lock_ticket(session: AsyncSession, guid: uuid.UUID) -> None:
    """Hold the ticket's row (before reading it): a rating and a concurrent reopen, or two
    ratings, are then decided one after the other on what the first one committed. NO KEY
    UPDATE, like a reply's lock: rows pointing at the ticket may still be inserted."""
    await session.execute(
        select(Ticket.id).where(Ticket.id == guid).with_for_update(key_share=True)
    )


async def of_ticket(session: AsyncSession, guid: uuid.UUID) -> TicketRating | None:
    return await session.get(TicketRating, guid)


async def add(session: AsyncSession, rating: TicketRating) -> None:
    session.add(rating)
    await session.flush()  # INSERT ... RETURNING created_at
