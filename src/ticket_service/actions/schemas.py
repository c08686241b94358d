from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from ticket_service.errors import ErrorBody


class Accepted(BaseModel):
    """The answer to a request sent with `Prefer: respond-async`."""

    guid_action: uuid.UUID = Field(description="Follow it at `GET /api/v1/actions/{guid_action}`")
    status: Literal["queued"] = "queued"


class ActionOut(BaseModel):
    guid_action: uuid.UUID
    type: str = Field(description="open_ticket | change_status")
    status: Literal["queued", "running", "succeeded", "failed"]
    result: dict[str, Any] | None = Field(
        description="The body the synchronous call would have answered; null until succeeded"
    )
    error: ErrorBody | None = Field(
        description="The error the synchronous call would have answered; null unless failed"
    )
    status_code: int | None = Field(
        description="The status the synchronous call would have answered; null until done"
    )
