"""Opaque bearer tokens. Only SHA-256 hashes reach the database."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from ticket_service.auth import token_cache
from ticket_service.auth.models import AuthSession
from ticket_service.auth.token_cache import TokenCache, note_auth_changed
from ticket_service.config import Settings
from ticket_service.errors import Unauthorized
from ticket_service.users.models import User


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    message = "Refresh token was already used; every session of this sign-in is revoked"
    keeps_changes = True


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(settings: Settings, token: str) -> bytes:
    """HMAC-SHA256 keyed with SECRET_KEY: write access to the database alone cannot mint a
    working token, and rotating SECRET_KEY signs everybody out at once."""
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, token.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


async def issue(
    session: AsyncSession, settings: Settings, user: User, family_id: uuid.UUID | None = None
) -> IssuedTokens:
    access, refresh = new_token(), new_token()
    now = datetime.now(UTC)
    session.add(
        AuthSession(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            access_hash=token_hash(settings, access),
            refresh_hash=token_hash(settings, refresh),
            access_expires_at=now + timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return IssuedTokens(
        access, refresh, settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds
    )


# Built once: constructing the statement cost more than running it, on every request.
_LIVE_SESSION = (
    select(AuthSession)
    .join(AuthSession.user)
    .options(contains_eager(AuthSession.user))
    .where(
        AuthSession.access_hash == bindparam("access_hash"),
        AuthSession.revoked_at.is_(None),
        AuthSession.rotated_at.is_(None),
        AuthSession.access_expires_at > bindparam("now"),
    )
)


async def authenticate(
    session: AsyncSession, settings: Settings, access_token: str
) -> tuple[User, AuthSession]:
    """The user behind a live access token: from the api's token cache when it may answer,
    else in one query; 401 for anything else."""
    key = token_hash(settings, access_token)
    cache: TokenCache | None = session.info.get(token_cache.SESSION_KEY)
    if cache is not None and (hit := cache.lookup(session, key)) is not None:
        return hit
    read_at = time.monotonic()
    params = {"access_hash": key, "now": datetime.now(UTC)}
    row = (await session.execute(_LIVE_SESSION, params)).scalar_one_or_none()
    if row is None:
        raise Unauthorized("Invalid or expired access token", code="invalid_token")
    if cache is not None:
        cache.remember(key, row, read_at)
    return row.user, row


async def live_refresh(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> AuthSession:
    """The session a refresh token renews, locked, with its user; 401 for anything else.
    A refresh token works once: presenting a used one again means it leaked, so the whole
    family of sessions is revoked."""
    now = datetime.now(UTC)
    current = (
        await session.execute(
            select(AuthSession)
            .join(AuthSession.user)
            .options(contains_eager(AuthSession.user))
            .where(AuthSession.refresh_hash == token_hash(settings, refresh_token))
            .with_for_update(of=AuthSession)
        )
    ).scalar_one_or_none()
    if current is None or current.revoked_at is not None or current.refresh_expires_at <= now:
        raise Unauthorized("Invalid or expired refresh token", code="invalid_refresh_token")
    if current.rotated_at is not None:
        await revoke_family(session, current.family_id)
        raise RefreshTokenReused()
    return current


async def rotate(session: AsyncSession, settings: Settings, current: AuthSession) -> IssuedTokens:
    """Retire `current` (from live_refresh) and issue the next pair of its family."""
    current.rotated_at = datetime.now(UTC)
    note_auth_changed(session, current.user_id)
    return await issue(session, settings, current.user, family_id=current.family_id)


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    revoked = await session.scalars(
        update(AuthSession)
        .where(AuthSession.family_id == family_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
        .returning(AuthSession.user_id)
    )
    for user_id in set(revoked.all()):
        note_auth_changed(session, user_id)


async def revoke_user(session: AsyncSession, user_id: int) -> int:
    """Every live session of a person, at once; how many there were."""
    note_auth_changed(session, user_id)
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def revoke(session: AsyncSession, auth_session: AuthSession) -> None:
    auth_session.revoked_at = datetime.now(UTC)
    note_auth_changed(session, auth_session.user_id)
    await session.flush()
