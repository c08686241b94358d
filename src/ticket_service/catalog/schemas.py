from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from ticket_service.kit.schemas import CleanText, RequestModel, StorableStr

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
# May be empty, but PostgreSQL refuses NUL in text: a 422 here, not a 500 at INSERT.
Description = Annotated[StorableStr, Field(max_length=2000)]


class ServiceOut(BaseModel):
    slug: str
    name: str
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime

    model_config = {"from_attributes": True}


class ServiceList(BaseModel):
    items: list[ServiceOut]


class ServiceCreate(RequestModel):
    slug: Slug = Field(description="Lower-case id used in tickets, e.g. `it`, `hr`, `office`")
    name: Annotated[CleanText, Field(max_length=200)]
    description: Description = ""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"slug": "it", "name": "IT-поддержка"}]},
    }


class ServiceUpdate(RequestModel):
    name: Annotated[CleanText, Field(max_length=200)] | None = None
    description: Description | None = None
    is_active: bool | None = None
