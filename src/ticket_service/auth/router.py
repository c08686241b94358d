"""Discord sign-in (the seed's paths) and token lifecycle (v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ticket_service.actions.log import Action, ActionRecord
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
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.users.schemas import user_out

router = APIRouter(tags=["auth"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _discord(request: Request) -> DiscordClient:
    client: DiscordClient = request.app.state.discord
    return client


AppSettings = Annotated[Settings, Depends(_settings)]
Discord = Annotated[DiscordClient, Depends(_discord)]


@router.get("/api/discord/auth_link", summary="Discord sign-in link")
async def auth_link(
    session: Session,
    settings: AppSettings,
    discord: Discord,
    action: Annotated[ActionRecord, Depends(Action("get_auth_link"))],
) -> AuthLinkResponse:
    """A Discord authorization URL with a fresh single-use `state` (valid 10 minutes)."""
    url = await service.start_login(session, settings, discord)
    return AuthLinkResponse(response=AuthLink(auth_link=url))


@router.get(
    "/api/discord/auth",
    summary="Finish Discord sign-in",
    responses=responses(401, 403, 422, 503),
)
async def auth(
    session: Session,
    settings: AppSettings,
    discord: Discord,
    action: Annotated[ActionRecord, Depends(Action("log_in"))],
    code: Annotated[str, Query(min_length=1, max_length=512)],
    state: Annotated[str | None, Query(max_length=512)] = None,
) -> LoginResponse:
    """Discord redirects here with `code` and `state`; answers our access and refresh tokens.

    Wrong or used code, or a missing/forged/expired/reused state → 401; not a member of the
    company guild → 403; Discord unreachable → 503."""
    user, issued = await service.finish_login(session, settings, discord, code, state)
    action.actor = user.discord_id
    return LoginResponse(response=_pair(issued, user))


def _pair(issued: tokens.IssuedTokens, user: object) -> TokenPair:
    return TokenPair(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        user=user_out(user),
    )


@router.post("/api/v1/auth/refresh", summary="Rotate tokens", responses=responses(401, 422))
async def refresh(
    body: RefreshRequest,
    session: Session,
    settings: AppSettings,
    action: Annotated[ActionRecord, Depends(Action("refresh_token"))],
) -> TokenPair:
    """Trade a refresh token for a new pair. Each refresh token works once; reusing one
    revokes every session descended from the same sign-in."""
    user, issued = await tokens.rotate(session, settings, body.refresh_token)
    action.actor = user.discord_id
    return _pair(issued, user)


@router.post("/api/v1/auth/logout", status_code=204, summary="Sign out", responses=responses(401))
async def logout(
    auth_session: CurrentSession,
    session: Session,
    action: Annotated[ActionRecord, Depends(Action("log_out"))],
) -> Response:
    """Revoke the presented token (and its refresh token) at once."""
    await service.logout(session, auth_session)
    return Response(status_code=204)
