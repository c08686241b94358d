"""SQL of the Discord front door: the ticket behind a card, the card's message."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from ticket_service.catalog.models import Service
from ticket_service.integrations.discord.models import DiscordCard
from ticket_service.tickets.models import Ticket


async def ticket_for_card(session: AsyncSession, guid: uuid.UUID) -> Ticket | None:
    """The ticket with its people, share-locked: a change still being committed (whose own
    card job found this one waiting and was not queued) is waited for and seen."""
    stmt = (
        select(Ticket)
        .options(
            joinedload(Ticket.author, innerjoin=True),
            joinedload(Ticket.assignee),
            joinedload(Ticket.service, innerjoin=True),
        )
        .where(Ticket.id == guid)
        .with_for_update(read=True, of=Ticket)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def card_of(session: AsyncSession, guid: uuid.UUID) -> DiscordCard | None:
    return await session.get(DiscordCard, guid)


async def save_card(
    session: AsyncSession, guid: uuid.UUID, channel_id: str, message_id: str, digest: str
) -> None:
    stmt = insert(DiscordCard).values(
        ticket_id=guid, channel_id=channel_id, message_id=message_id, payload_hash=digest
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[DiscordCard.ticket_id],
            set_={
                "channel_id": stmt.excluded.channel_id,
                "message_id": stmt.excluded.message_id,
                "payload_hash": stmt.excluded.payload_hash,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def service_of_channel(session: AsyncSession, channel_id: str) -> Service | None:
    """The active service whose cards go to this channel (a message there is about it)."""
    stmt = (
        select(Service)
        .where(Service.discord_channel_id == channel_id, Service.is_active.is_(True))
        .order_by(Service.slug)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
