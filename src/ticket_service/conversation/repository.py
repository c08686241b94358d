"""All SQL about comments."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from ticket_service.conversation.models import Comment
from ticket_service.tickets.models import Ticket

_WITH_AUTHOR = select(Comment).options(joinedload(Comment.author, innerjoin=True))


async def lock_ticket(session: AsyncSession, guid: uuid.UUID) -> None:
    """Hold the ticket's row until the transaction ends, before reading it: a reply's
    count, status change and version bump then never race another change. NO KEY UPDATE
    (what the UPDATE itself takes) leaves inserts of rows pointing at the ticket free."""
    stmt = (
        select(Ticket.id).where(Ticket.id == guid).with_for_update(key_share=True)
    )  # FOR NO KEY UPDATE
    await session.execute(stmt)


async def add(session: AsyncSession, comment: Comment) -> Comment:
    session.add(comment)
    await session.flush()  # INSERT ... RETURNING id, created_at
    return comment


async def page(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    with_internal: bool,
    limit: int,
    after_id: int | None,
) -> tuple[list[Comment], bool]:
    """Oldest first; one row more than asked tells whether a next page exists."""
    stmt = _WITH_AUTHOR.where(Comment.ticket_id == ticket_id)
    if not with_internal:
        stmt = stmt.where(Comment.internal.is_(False))
    if after_id is not None:
        stmt = stmt.where(Comment.id > after_id)
    stmt = stmt.order_by(Comment.id).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    return rows[:limit], len(rows) > limit


async def locked_for_edit(
    session: AsyncSession, ticket_id: uuid.UUID, comment_id: int, window: timedelta
) -> tuple[Comment, bool, datetime] | None:
    """The comment, locked against a concurrent edit; whether it is still within the edit
    window; and the time now. Both by the database's clock, the one that stamped
    `created_at`."""
    editable = (Comment.created_at > func.now() - window).label("editable")
    stmt = (
        select(Comment, editable, func.now())
        .options(joinedload(Comment.author, innerjoin=True))
        .where(Comment.id == comment_id, Comment.ticket_id == ticket_id)
        .with_for_update(of=Comment)
    )
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], bool(row[1]), row[2])
