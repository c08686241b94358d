from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StringConstraints

from ticket_service.kit.schemas import RequestModel
from ticket_service.users.models import Role
from ticket_service.users.schemas import is_available

DiscordId = Annotated[str, StringConstraints(pattern=r"^\d+$", max_length=32)]


class AgentOut(BaseModel):
    discord_id: str
    username: str
    display_name: str | None
    role: Role
    available: bool = Field(description="False while away: automatic assignment skips them")
    away_until: datetime | None
    last_assigned_at: datetime | None = Field(
        description="When automatic assignment last gave them a ticket of this service"
    )


def agent_out(user: Any, last_assigned_at: datetime | None) -> AgentOut:
    available = is_available(user)
    return AgentOut(
        discord_id=user.discord_id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        available=available,
        away_until=None if available else user.away_until,
        last_assigned_at=last_assigned_at,
    )


class AgentList(BaseModel):
    items: list[AgentOut]


class AssignBody(RequestModel):
    assignee: DiscordId | None = Field(
        description="Discord id of a member of the service's team; null: nobody"
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"assignee": "2001"}, {"assignee": None}]},
    }


class AvailabilityChange(RequestModel):
    # Strict: `0` or `"no"` must not send somebody on holiday.
    available: StrictBool
    until: AwareDatetime | None = Field(
        default=None,
        description="With `available: false`: when you are back (ISO 8601 with a time zone, "
        "in the future); absent: until you say so",
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"available": False, "until": "2026-12-14T09:00:00+03:00"},
                {"available": True},
            ]
        },
    }
