"""Typed auth dependencies: CurrentSession, CurrentUser, AdminUser."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ticket_service.auth import tokens
from ticket_service.auth.models import AuthSession
from ticket_service.db import Session
from ticket_service.errors import Forbidden, Unauthorized
from ticket_service.ops.action_log import current_action
from ticket_service.users.models import Role, User

# Both spellings are accepted: `Authorization: Bearer <t>` and the seed's `access_token: <t>`.
_bearer = HTTPBearer(auto_error=False, description="Access token from /api/discord/auth")
_seed_header = APIKeyHeader(
    name="access_token", auto_error=False, description="The seed's header for the same token"
)


async def current_session(
    request: Request,
    session: Session,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    seed_token: Annotated[str | None, Depends(_seed_header)],
) -> AuthSession:
    token = bearer.credentials if bearer else seed_token
    if not token:
        raise Unauthorized("Missing access token", code="missing_token")
    user, auth_session = await tokens.authenticate(session, request.app.state.settings, token)
    current_action(request).actor = user.discord_id
    return auth_session


async def current_user(auth_session: Annotated[AuthSession, Depends(current_session)]) -> User:
    return auth_session.user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if user.role_enum is not Role.admin:
        raise Forbidden("Only admins may do this", code="admins_only")
    return user


CurrentSession = Annotated[AuthSession, Depends(current_session)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
