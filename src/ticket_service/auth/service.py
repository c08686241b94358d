"""Sign-in with Discord: hand out a single-use `state`, then trade code + state for tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.auth import tokens
from ticket_service.auth.discord import DiscordClient, NotGuildMember
from ticket_service.auth.models import AuthSession, OAuthState
from ticket_service.config import Settings
from ticket_service.errors import AppError, Unauthorized
from ticket_service.ops.metrics import DISCORD_LOGINS
from ticket_service.users import service as users
from ticket_service.users.models import Role, User


class InvalidState(Unauthorized):
    code = "invalid_state"
    message = (
        "The login state is missing, unknown, expired or already used; "
        "start again from /api/discord/auth_link"
    )


async def start_login(
    session: AsyncSession,
    settings: Settings,
    discord: DiscordClient,
    redirect_uri: str | None = None,
    state: str | None = None,
) -> str:
    """A single-use state and Discord's sign-in page for it. The web UI passes its own
    state (also kept in a cookie) and redirect URI."""
    state = state or tokens.new_token()
    session.add(
        OAuthState(
            state_hash=tokens.token_hash(settings, state),
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.oauth_state_ttl_seconds),
        )
    )
    await session.flush()
    return await discord.authorization_url(state, redirect_uri)


async def _consume_state(session: AsyncSession, settings: Settings, state: str | None) -> None:
    if not state:
        raise InvalidState()
    expires_at = (
        await session.execute(
            delete(OAuthState)
            .where(OAuthState.state_hash == tokens.token_hash(settings, state))
            .returning(OAuthState.expires_at)
        )
    ).scalar_one_or_none()
    if expires_at is None or expires_at <= datetime.now(UTC):
        raise InvalidState()


async def finish_login(
    session: AsyncSession,
    settings: Settings,
    discord: DiscordClient,
    code: str,
    state: str | None,
    redirect_uri: str | None = None,
) -> tuple[User, tokens.IssuedTokens]:
    """A state is good for exactly one attempt, whatever Discord answers."""
    try:
        await _consume_state(session, settings, state)
        try:
            profile = await discord.profile_for_code(code, redirect_uri)
        except AppError as exc:
            exc.keeps_changes = True  # the state was spent on this attempt: commit its removal
            raise
        user = await users.upsert_from_discord(session, settings, profile)
        issued = await tokens.issue(session, settings, user)
    except AppError as exc:
        DISCORD_LOGINS.labels(exc.code).inc()  # invalid_state, invalid_code, not_guild_member...
        raise
    DISCORD_LOGINS.labels("success").inc()
    return user, issued


class NoLongerMember(Unauthorized):
    code = NotGuildMember.code
    message = (
        "You are no longer a member of the company Discord server; "
        "every session of this sign-in is revoked"
    )
    keeps_changes = True  # the revocation must stand


async def refresh(
    session: AsyncSession, settings: Settings, discord: DiscordClient, refresh_token: str
) -> tuple[User, tokens.IssuedTokens]:
    """Trade a refresh token for a new pair, after asking Discord who the person is now.

    Not in the guild any more → 401 and the family revoked; roles changed → the role
    changes. Discord unreachable → 503 and nothing changes: the access token in hand
    keeps working until it expires, and the refresh token can be tried again."""
    current = await tokens.live_refresh(session, settings, refresh_token)
    user = current.user
    if settings.discord_guild_id and (settings.discord_bot_token or user.discord_access_token):
        # Locked: Discord rotates its refresh tokens, so two of our refreshes must not
        # both spend the same one.
        await session.refresh(user, with_for_update=True)
        membership = await discord.membership(user.discord_id, users.grant_of(user))
        if membership.roles is None:
            # The grant is kept as it is: the person's other sign-ins meet the same answer.
            await tokens.revoke_family(session, current.family_id)
            raise NoLongerMember()
        users.follow_discord(settings, user, membership.roles, membership.grant)
    issued = await tokens.rotate(session, settings, current)
    return user, issued


async def logout(session: AsyncSession, auth_session: AuthSession) -> None:
    await tokens.revoke(session, auth_session)


async def mint_token(
    session: AsyncSession, settings: Settings, discord_id: str, role: Role | None
) -> tuple[User, tokens.IssuedTokens]:
    """A token without Discord (`ticket-service token`): creates the user when missing."""
    user = await users.ensure_user(session, discord_id, role)
    return user, await tokens.issue(session, settings, user)
