"""Typed auth dependencies: CurrentSession, CurrentUser, AdminUser.

The token check is one dependency (plus the session it reads with and the seed's header),
not a chain of four: FastAPI resolves each dependency of each request in turn, at some
15 µs apiece. It is an `HTTPBearer`, so OpenAPI documents both schemes from it as before
(`HTTPBearer`, and `APIKeyHeader` from the seed's header below it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from ticket_service.auth import tokens
from ticket_service.auth.models import AuthSession
from ticket_service.db import Session
from ticket_service.errors import Forbidden, Unauthorized
from ticket_service.ops.action_log import current_action
from ticket_service.users.models import Role, User

# Both spellings are accepted: `Authorization: Bearer <t>` and the seed's `access_token: <t>`.
BEARER_DESCRIPTION = "Access token from /api/discord/auth"
_seed_header = APIKeyHeader(
    name="access_token", auto_error=False, description="The seed's header for the same token"
)
SeedToken = Annotated[str | None, Depends(_seed_header)]
# Where a request's check is kept: an endpoint asking for the session and the person checks once.
_CHECKED = "ticket_service.auth"


def bearer_token(request: Request) -> str | None:
    """`Authorization: Bearer <t>` as FastAPI's HTTPBearer reads it (scheme case-insensitive)."""
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


class TokenCheck(HTTPBearer):
    """The request's access token (Bearer first, then the seed's header) → its live
    session and person, or 401; the person is the request's actor in the action log."""

    def __init__(self, wants: Literal["session", "user", "admin"]) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer", description=BEARER_DESCRIPTION)
        self.wants = wants

    async def __call__(  # type: ignore[override] # a dependency of its own, documented as a bearer
        self, request: Request, session: Session, seed_token: SeedToken
    ) -> AuthSession | User:
        state = request.scope.setdefault("state", {})
        checked: tuple[object, AuthSession] | None = state.get(_CHECKED)
        # Only within one run of the request: a replay (ops/db_retry.py) has a new session.
        if checked is not None and checked[0] is session:
            auth_session = checked[1]
        else:
            token = bearer_token(request) or seed_token
            if not token:
                raise Unauthorized("Missing access token", code="missing_token")
            user, auth_session = await tokens.authenticate(
                session, request.app.state.settings, token
            )
            current_action(request).actor = user.discord_id
            state[_CHECKED] = (session, auth_session)
        if self.wants == "session":
            return auth_session
        if self.wants == "admin" and auth_session.user.role_enum is not Role.admin:
            raise Forbidden("Only admins may do this", code="admins_only")
        return auth_session.user


current_session = TokenCheck("session")
current_user = TokenCheck("user")
admin_user = TokenCheck("admin")

CurrentSession = Annotated[AuthSession, Depends(current_session)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
