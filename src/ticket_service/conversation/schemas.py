"""What the conversation API reads and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from ticket_service.kit.schemas import CleanText, RequestModel

BODY_MAX = 10000
CommentBody = Annotated[CleanText, Field(min_length=1, max_length=BODY_MAX)]


class CommentCreate(RequestModel):
    body: CommentBody = Field(description=f"The reply or note, 1..{BODY_MAX} characters")
    # Strict: `"yes"` or `1` is a 422, not a note written by accident.
    internal: StrictBool = Field(
        default=False, description="An internal note: only the ticket's staff see it"
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"body": "Перезагрузите роутер, пожалуйста"}]},
    }


class CommentEdit(RequestModel):
    body: CommentBody = Field(description="The new text; the previous one stays in the history")

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"body": "Перезагрузите роутер и VPN-клиент"}]},
    }


class PersonRef(BaseModel):
    discord_id: str
    name: str = Field(description="Discord display name, else the username")


class CommentView(BaseModel):
    id: int
    author: PersonRef
    body: str
    internal: bool
    created_at: datetime
    edited_at: datetime | None = Field(description="When its author last edited it")
    etag: str = Field(
        description="Its entity tag (also the `ETag` header of a POST or PATCH): send it as "
        "`If-Match` when editing, 412 if it was edited since"
    )


class CommentPage(BaseModel):
    items: list[CommentView]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
