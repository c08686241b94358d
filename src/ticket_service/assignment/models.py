from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, func
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base


class TeamMember(Base):
    """An agent on a service's team: sees and works that service's tickets."""

    __tablename__ = "service_agents"
    # Looked up by person too: "which services' tickets may this agent see".
    __table_args__ = (Index("ix_service_agents_user", "user_id", "service_id"),)

    service_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("services.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Round robin's position: the member assigned longest ago (or never) is next. Read and
    # written under the service row's lock, so concurrent opens take turns.
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Follower(Base):
    """Staff who follow a ticket hear about every event on it they may see."""

    __tablename__ = "ticket_followers"
    __table_args__ = (Index("ix_ticket_followers_user", "user_id", "ticket_id"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
