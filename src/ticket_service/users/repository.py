from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.users.models import User


async def by_discord_id_for_update(session: AsyncSession, discord_id: str) -> User | None:
    result = await session.execute(
        select(User).where(User.discord_id == discord_id).with_for_update()
    )
    return result.scalar_one_or_none()


async def people(session: AsyncSession, q: str | None, limit: int) -> list[User]:
    """People who have signed in, by name; `q` matches the name, username or Discord id."""
    stmt = select(User).order_by(User.username, User.id).limit(limit)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            User.username.ilike(pattern, escape="\\")
            | User.display_name.ilike(pattern, escape="\\")
            | (User.discord_id == q)
        )
    return list((await session.execute(stmt)).scalars().all())
