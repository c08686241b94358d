from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.catalog.models import Service


async def all_services(session: AsyncSession, include_inactive: bool) -> list[Service]:
    stmt = select(Service).order_by(Service.slug)
    if not include_inactive:
        stmt = stmt.where(Service.is_active.is_(True))
    return list((await session.execute(stmt)).scalars().all())


async def by_slug(session: AsyncSession, slug: str) -> Service | None:
    return (await session.execute(select(Service).where(Service.slug == slug))).scalar_one_or_none()
