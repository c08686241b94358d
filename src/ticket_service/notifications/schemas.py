from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from ticket_service.kit.schemas import RequestModel


class DeliveryOut(BaseModel):
    id: int
    event_id: int
    guid_ticket: str
    channel: str
    recipient: str = Field(description="E-mail, Discord id, or the name of a configured URL")
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class NotificationSettings(BaseModel):
    email: bool = Field(
        description="E-mail me when my tickets change (to my verified Discord e-mail)"
    )
    discord: bool = Field(description="Send me a Discord direct message when my tickets change")


class NotificationSettingsUpdate(RequestModel):
    # Strict: the schema says boolean, so `0`, `"no"` or `"false"` are a 422, not a silent False.
    email: StrictBool | None = None
    discord: StrictBool | None = None

    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [{"email": False}]}}
