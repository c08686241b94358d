from __future__ import annotations

import enum

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped
from ticket_service.kit.crypto import EncryptedText
from ticket_service.vocabulary import sql_in

DEFAULT_SERVICE_SLUG = "general"


class AssignmentMode(enum.StrEnum):
    manual = "manual"  # nobody is assigned on open; agents claim or assign
    round_robin = "round_robin"  # the next available team member, in turn
    least_loaded = "least_loaded"  # the available team member with the fewest open tickets


class Service(Timestamped, Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(sql_in("assignment", AssignmentMode), name="assignment"),
        CheckConstraint("auto_close_days >= 0", name="auto_close_days"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Per-service notification overrides: its own channels instead of the global ones,
    # and people (e.g. the service's shared inbox) to e-mail about its tickets. Webhook URLs
    # are credentials: stored encrypted (kit/crypto.py), read back in the clear.
    slack_webhook_url: Mapped[str | None] = mapped_column(EncryptedText)
    discord_webhook_url: Mapped[str | None] = mapped_column(EncryptedText)
    notify_emails: Mapped[list[str]] = mapped_column(
        ARRAY(String(320)), default=list, server_default="{}"
    )
    assignment: Mapped[str] = mapped_column(
        String(16), default=AssignmentMode.manual.value, server_default=AssignmentMode.manual.value
    )
    # Where the Discord bot posts a card of each new ticket (integrations/discord); None: no
    # cards. A channel id is not a secret, unlike the webhook URLs above.
    discord_channel_id: Mapped[str | None] = mapped_column(String(20))
    # SLA (sla/): the business calendar its targets are measured in (None: the default,
    # Europe/Moscow Mon-Fri 09-18), and after how many days a ticket waiting for its author
    # is closed unresolved (0: never).
    calendar_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("business_calendars.id", ondelete="SET NULL")
    )
    auto_close_days: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
