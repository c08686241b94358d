"""Who a user is and which role they hold."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.auth import tokens
from ticket_service.auth.discord import DiscordGrant, DiscordProfile
from ticket_service.auth.token_cache import note_auth_changed
from ticket_service.config import Settings
from ticket_service.errors import BadRequest, NotFound
from ticket_service.users import repository
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import locale_or_default


def role_from_discord(settings: Settings, profile: DiscordProfile) -> Role:
    return role_for(settings, profile.id, profile.guild_roles)


def role_for(settings: Settings, discord_id: str, guild_roles: list[str]) -> Role:
    """Bootstrap admins first, then guild roles; everybody else is an employee. The one
    mapping, at sign-in and at every session refresh."""
    if discord_id in settings.admin_discord_ids:
        return Role.admin
    roles = set(guild_roles)
    if roles & set(settings.discord_admin_role_ids):
        return Role.admin
    if roles & set(settings.discord_agent_role_ids):
        return Role.agent
    return Role.employee


async def upsert_from_discord(
    session: AsyncSession, settings: Settings, profile: DiscordProfile
) -> User:
    """Create or refresh the user at sign-in, in one statement (safe under concurrent logins).

    Roles are re-read from Discord at every login unless an admin set one by hand;
    a bootstrap admin (ADMIN_DISCORD_IDS) is always an admin."""
    derived = role_from_discord(settings, profile)
    values: dict[str, object] = {
        "discord_id": profile.id,
        "username": profile.username[:64],
        "display_name": profile.global_name[:64] if profile.global_name else None,
        "email": profile.email,
        "email_verified": profile.verified,
        "avatar": profile.avatar,
        # Messages to this person are written in their Discord language, if we speak it.
        "locale": locale_or_default(profile.locale) if profile.locale else None,
        "role": derived.value,
        "last_login_at": datetime.now(UTC),
    }
    if profile.grant is not None:
        values.update(_grant_columns(profile.grant))
    stmt = insert(User).values(**values)
    bootstrap_admin = profile.id in settings.admin_discord_ids
    role = (
        stmt.excluded.role
        if bootstrap_admin
        else case((User.role_set_by_admin, User.role), else_=stmt.excluded.role)
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[User.discord_id],
        set_={
            "username": stmt.excluded.username,
            "display_name": stmt.excluded.display_name,
            "email": stmt.excluded.email,
            "email_verified": stmt.excluded.email_verified,
            "avatar": stmt.excluded.avatar,
            "locale": func.coalesce(stmt.excluded.locale, User.locale),
            "role": role,
            "last_login_at": stmt.excluded.last_login_at,
            "discord_access_token": stmt.excluded.discord_access_token,
            "discord_refresh_token": stmt.excluded.discord_refresh_token,
            "discord_token_expires_at": stmt.excluded.discord_token_expires_at,
            "updated_at": func.now(),
        },
    ).returning(User)
    user: User = (await session.scalars(select(User).from_statement(upsert))).one()
    note_auth_changed(session, user.id)  # a sign-in may bring a new role from Discord
    return user


async def upsert_from_member(
    session: AsyncSession, settings: Settings, profile: DiscordProfile
) -> User:
    """Create or refresh the person acting through a Discord interaction, whose guild
    membership Discord vouched for in the signed request: name, avatar, language and the
    role, mapped as at sign-in (`role_for`; a role set by an admin stays). Their e-mail and
    sign-in grant are left as they are: an interaction carries neither."""
    derived = role_from_discord(settings, profile)
    stmt = insert(User).values(
        discord_id=profile.id,
        username=profile.username[:64],
        display_name=profile.global_name[:64] if profile.global_name else None,
        avatar=profile.avatar,
        locale=locale_or_default(profile.locale) if profile.locale else None,
        role=derived.value,
    )
    role = (
        stmt.excluded.role
        if profile.id in settings.admin_discord_ids
        else case((User.role_set_by_admin, User.role), else_=stmt.excluded.role)
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[User.discord_id],
        set_={
            "username": stmt.excluded.username,
            "display_name": stmt.excluded.display_name,
            "avatar": stmt.excluded.avatar,
            "locale": func.coalesce(stmt.excluded.locale, User.locale),
            "role": role,
            "updated_at": func.now(),
        },
    ).returning(User)
    user: User = (await session.scalars(select(User).from_statement(upsert))).one()
    return user


def _grant_columns(grant: DiscordGrant | None) -> dict[str, object]:
    return {
        "discord_access_token": grant.access_token if grant else None,
        "discord_refresh_token": grant.refresh_token if grant else None,
        "discord_token_expires_at": grant.expires_at if grant else None,
    }


def grant_of(user: User) -> DiscordGrant | None:
    if not user.discord_access_token:
        return None
    return DiscordGrant(
        user.discord_access_token, user.discord_refresh_token, user.discord_token_expires_at
    )


def follow_discord(
    settings: Settings, user: User, guild_roles: list[str], grant: DiscordGrant | None
) -> None:
    """What a session refresh learnt from Discord, applied as a sign-in would: the role
    follows the guild roles unless an admin set it by hand (bootstrap admins stay admins)."""
    for column, value in _grant_columns(grant).items():
        setattr(user, column, value)
    if user.role_set_by_admin and user.discord_id not in settings.admin_discord_ids:
        return
    user.role = role_for(settings, user.discord_id, guild_roles).value


async def ensure_user(session: AsyncSession, discord_id: str, role: Role | None) -> User:
    """The user for `ticket-service token`: created when missing, role set by hand if given."""
    user = await repository.by_discord_id_for_update(session, discord_id)
    if user is None:
        user = User(
            discord_id=discord_id,
            username=f"user{discord_id}",
            role=(role or Role.employee).value,
            role_set_by_admin=role is not None,
        )
        session.add(user)
    elif role is not None:
        user.role = role.value
        user.role_set_by_admin = True
    await session.flush()
    return user


async def set_role(session: AsyncSession, discord_id: str, role: Role) -> User:
    if not discord_id.isdigit():
        raise BadRequest(
            "discord_id must be a Discord snowflake (digits)", code="invalid_discord_id"
        )
    user = await repository.by_discord_id_for_update(session, discord_id)
    if user is None:
        raise NotFound("No user with this Discord id has signed in yet", code="user_not_found")
    user.role = role.value
    user.role_set_by_admin = True
    await session.flush()
    return user


async def revoke_sessions(session: AsyncSession, discord_id: str) -> int:
    user = await repository.by_discord_id_for_update(session, discord_id)
    if user is None:
        raise NotFound("No user with this Discord id has signed in yet", code="user_not_found")
    return await tokens.revoke_user(session, user.id)


async def list_people(session: AsyncSession, q: str | None = None, limit: int = 100) -> list[User]:
    """People for the admins' page, by username."""
    return await repository.people(session, q, limit)
