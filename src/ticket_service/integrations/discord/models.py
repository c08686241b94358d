from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base


class DiscordCard(Base):
    """The Discord message that shows a ticket in its service's channel. `message_id` is
    None until the post succeeded; `payload_hash` is what it shows now (an edit that would
    change nothing is not sent)."""

    __tablename__ = "discord_cards"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(20))
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
