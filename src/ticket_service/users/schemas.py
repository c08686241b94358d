from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ticket_service.kit.schemas import RequestModel
from ticket_service.users.models import Role


class UserOut(BaseModel):
    discord_id: str
    username: str
    display_name: str | None
    email: str | None
    role: Role
    created_at: datetime
    last_login_at: datetime | None
    locale: str | None = Field(
        description="Language of personal messages (ru | en), Discord's at sign-in; "
        "null: the service's NOTIFY_LOCALE"
    )


def user_out(user: Any) -> UserOut:
    return UserOut(
        discord_id=user.discord_id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        role=Role(user.role),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        locale=user.locale,
    )


class RoleChange(RequestModel):
    role: Role

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"role": "agent"}]}}
