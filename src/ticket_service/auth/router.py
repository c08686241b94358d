"""Discord sign-in (the seed's paths) and token lifecycle (v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ticket_service.auth import service, tokens
from ticket_service.auth.dependencies import CurrentSession
from ticket_service.auth.discord import DiscordClient
from ticket_service.auth.schemas import (
    AuthLink,
    AuthLinkResponse,
    LoginResponse,
    RefreshRequest,
    TokenPair,
)
from ticket_service.config import Settings
from ticket_service.db import Session, writes_on_get
from ticket_service.errors import responses
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.users.schemas import user_out

router = APIRouter(tags=["auth"])


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _discord(request: Request) -> DiscordClient:
    client: DiscordClient = request.app.state.discord
    return client


AppSettings = Annotated[Settings, Depends(_settings)]
Discord = Annotated[DiscordClient, Depends(_discord)]


# Token-bearing responses must not be stored by browsers or proxies (RFC 6749, 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.get("/api/discord/auth_link", summary="Discord sign-in link", responses=responses(503))
@writes_on_get
async def auth_link(
    action: Annotated[ActionRecord, Depends(Action("get_auth_link"))],
    session: Session,
    settings: AppSettings,
    discord: Discord,
) -> AuthLinkResponse:
    """A Discord authorization URL with a fresh single-use `state`, valid for
    OAUTH_STATE_TTL_SECONDS (10 minutes by default). 503 when Discord is not configured."""
    url = await service.start_login(session, settings, discord)
    return AuthLinkResponse(response=AuthLink(auth_link=url))


@router.get(
    "/api/discord/auth",
    summary="Finish Discord sign-in",
    responses=responses(401, 403, 422, 503),
)
@writes_on_get
async def auth(
    action: Annotated[ActionRecord, Depends(Action("log_in"))],
    response: Response,
    session: Session,
    settings: AppSettings,
    discord: Discord,
    code: Annotated[str, Query(min_length=1, max_length=512)],
    state: Annotated[str | None, Query(max_length=512)] = None,
) -> LoginResponse:
    """Discord redirects here with `code` and `state`; answers our access and refresh tokens.

    Wrong or used code, or a missing/forged/expired/reused state → 401; not a member of the
    company guild → 403; Discord unreachable → 503."""
    user, issued = await service.finish_login(session, settings, discord, code, state)
    action.actor = user.discord_id
    response.headers.update(NO_STORE)
    return LoginResponse(response=_pair(issued, user))


def _pair(issued: tokens.IssuedTokens, user: object) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        user=user_out(user),
    )


@router.post("/api/v1/auth/refresh", summary="Rotate tokens", responses=responses(401, 422, 503))
async def refresh(
    action: Annotated[ActionRecord, Depends(Action("refresh_token"))],
    response: Response,
    body: RefreshRequest,
    session: Session,
    settings: AppSettings,
    discord: Discord,
) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; reusing one
    revokes every session descended from the same sign-in.

    With DISCORD_GUILD_ID set, each refresh asks Discord (with the bot token, or the grant
    given at sign-in) whether the person is still in the guild and with which roles: no
    longer a member → 401 `not_guild_member` and every session of this sign-in revoked;
    roles changed → the role changes (unless an admin set it by hand). Discord unreachable
    → 503 `discord_unavailable`; the access token in hand works until it expires."""
    user, issued = await service.refresh(session, settings, discord, body.refresh_token)
    action.actor = user.discord_id
    response.headers.update(NO_STORE)
    return _pair(issued, user)


@router.post("/api/v1/auth/logout", status_code=204, summary="Sign out", responses=responses(401))
async def logout(
    action: Annotated[ActionRecord, Depends(Action("log_out"))],
    auth_session: CurrentSession,
    session: Session,
) -> Response:
    """Revoke the presented token (and its refresh token) at once."""
    await service.logout(session, auth_session)
    return Response(status_code=204)
