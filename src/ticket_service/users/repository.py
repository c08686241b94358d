from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.users.models import User


async def by_discord_id_for_update(session: AsyncSession, discord_id: str) -> User | None:
    result = await session.execute(
        select(User).where(User.discord_id == discord_id).with_for_update()
    )
    return result.scalar_one_or_none()
