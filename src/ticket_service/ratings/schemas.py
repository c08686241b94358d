from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from ticket_service.kit.schemas import CleanText, RequestModel
from ticket_service.ratings.models import COMMENT_MAX, SCORE_MAX, SCORE_MIN

Score = Annotated[StrictInt, Field(ge=SCORE_MIN, le=SCORE_MAX, description="1 (bad) to 5 (great)")]
RatingComment = Annotated[CleanText, Field(max_length=COMMENT_MAX)]


class RatingCreate(RequestModel):
    score: Score
    comment: RatingComment | None = Field(default=None, description="Optional, in your words")

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"score": 5, "comment": "Быстро и вежливо"}]},
    }


class RatingOut(BaseModel):
    score: int
    comment: str | None
    created_at: datetime
