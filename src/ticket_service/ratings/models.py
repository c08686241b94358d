from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, SmallInteger, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base

SCORE_MIN, SCORE_MAX = 1, 5
COMMENT_MAX = 2000


class TicketRating(Base):
    """The author's rating of a closed ticket: at most one per ticket (its primary key)."""

    __tablename__ = "ticket_ratings"
    __table_args__ = (
        CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="score"),
        CheckConstraint(f"char_length(comment) <= {COMMENT_MAX}", name="comment_length"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    score: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    # Statistics count ratings by when they were given.
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )

    __mapper_args__ = {"eager_defaults": True}
