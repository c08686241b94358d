from __future__ import annotations

from pydantic import BaseModel, Field

from ticket_service.kit.schemas import RequestModel
from ticket_service.users.schemas import UserOut


class AuthLink(BaseModel):
    auth_link: str = Field(description="Send the user here to sign in with Discord")


class AuthLinkResponse(BaseModel):
    response: AuthLink


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str
    user: UserOut


class LoginResponse(BaseModel):
    response: TokenPair


class RefreshRequest(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=256)
