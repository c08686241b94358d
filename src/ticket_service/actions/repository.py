"""All SQL about asynchronous actions. Every read by a user goes through `visible_to`."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.actions.models import AsyncAction
from ticket_service.users.models import Role, User


def visible_to(stmt: Select[AsyncAction], user: User) -> Select[AsyncAction]:
    """Whoever made the request sees its action; admins see every action."""
    if user.role_enum is Role.admin:
        return stmt
    return stmt.where(AsyncAction.actor_id == user.id)


async def get_visible(session: AsyncSession, user: User, guid: uuid.UUID) -> AsyncAction | None:
    stmt = visible_to(select(AsyncAction).where(AsyncAction.guid_action == guid), user)
    return (await session.execute(stmt)).scalar_one_or_none()


async def locked(session: AsyncSession, guid: uuid.UUID) -> AsyncAction | None:
    """The row, locked until the transaction ends: one job at a time performs an action."""
    stmt = select(AsyncAction).where(AsyncAction.guid_action == guid).with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()
