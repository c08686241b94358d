from __future__ import annotations

from datetime import UTC, datetime
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
    available: bool = Field(description="False while away: automatic assignment skips them")
    away_until: datetime | None = Field(description="When being away ends by itself, if set")


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
        available=is_available(user),
        away_until=None if is_available(user) else user.away_until,
    )


def is_available(user: Any) -> bool:
    """Away ends by itself once `away_until` has passed (the same rule automatic assignment
    applies in SQL, assignment/repository.py::available_now)."""
    if user.available:
        return True
    until = user.away_until
    return until is not None and until <= datetime.now(UTC)


class RoleChange(RequestModel):
    role: Role

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"role": "agent"}]}}
