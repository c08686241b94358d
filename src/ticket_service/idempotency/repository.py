"""SQL of idempotency keys. The request's transaction holds the key it claimed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.idempotency.models import IdempotencyKey


async def claim(
    session: AsyncSession,
    user_id: int,
    key: str,
    fingerprint: bytes,
    guid_action: uuid.UUID,
    ttl: timedelta,
) -> IdempotencyKey | None:
    """Take the key for this request (None), or answer the live row someone else holds.

    The INSERT waits for an uncommitted insert of the same key (the unique index), up to
    the transaction's lock_timeout. An expired row (older than `ttl` by the database
    clock), or one left without a response, is taken over in the same statement."""
    values = insert(IdempotencyKey).values(
        user_id=user_id, key=key, fingerprint=fingerprint, guid_action=guid_action
    )
    stmt = values.on_conflict_do_update(
        index_elements=[IdempotencyKey.user_id, IdempotencyKey.key],
        set_={
            "fingerprint": values.excluded.fingerprint,
            "guid_action": values.excluded.guid_action,
            "created_at": func.now(),
            "status_code": None,
            "headers": None,
            "body": None,
        },
        where=or_(
            IdempotencyKey.created_at < func.now() - ttl,
            IdempotencyKey.status_code.is_(None),
        ),
    ).returning(IdempotencyKey.user_id)
    if (await session.execute(stmt)).first() is not None:
        return None
    return (
        await session.execute(
            select(IdempotencyKey)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def set_lock_timeout(session: AsyncSession, value: str) -> str:
    """Set the transaction's lock_timeout; answers the previous value."""
    row = (
        await session.execute(
            text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :v, true)"),
            {"v": value},
        )
    ).one()
    return str(row[0])


async def store(
    session: AsyncSession,
    user_id: int,
    key: str,
    status_code: int,
    headers: list[list[str]],
    body: bytes,
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .values(status_code=status_code, headers=headers, body=body)
    )


async def prune(session: AsyncSession, ttl: timedelta) -> int:
    result = await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - ttl)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
