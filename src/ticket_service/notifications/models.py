from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped


class Channel(enum.StrEnum):
    email = "email"
    slack = "slack"
    discord_webhook = "discord_webhook"
    discord_dm = "discord_dm"
    webhook = "webhook"


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # waiting for its first or next attempt
    sending = "sending"  # a worker holds the lease and is sending it now
    sent = "sent"
    failed = "failed"  # the last attempt failed; another is scheduled
    dead = "dead"  # gave up: permanent failure or attempts exhausted


# The statuses of a delivery not yet done with, as SQL: what the senders' partial index
# holds and what they claim from.
UNSENT = ", ".join(
    f"'{s.value}'" for s in (DeliveryStatus.pending, DeliveryStatus.failed, DeliveryStatus.sending)
)

# Due, as SQL: waiting (pending, or failed and its retry time has come), or `sending` under
# a lease that expired (a sender died mid-send). What the senders claim
# (notifications/repository.py) and what the backlog metric measures (ops/metrics.py).
DUE = f"""status IN ({UNSENT})
    AND CASE WHEN status = '{DeliveryStatus.sending.value}' THEN lease_until <= now()
             ELSE next_attempt_at IS NULL OR next_attempt_at <= now() END"""


class Delivery(Timestamped, Base):
    """One message to one recipient on one channel about one event.

    (event, channel, recipient) is unique: it is the idempotency key, so a retried or
    duplicated job can never send a second copy of a delivery already marked sent.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient"),
        Index("ix_notification_deliveries_status_id", "status", "id"),
        # The senders' queue (notifications/sender.py): only the deliveries not done with.
        Index(
            "ix_notification_deliveries_due", "id", postgresql_where=text(f"status IN ({UNSENT})")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ticket_events.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(32))
    # An e-mail address, a Discord user id, or a key naming a configured URL (never the
    # URL itself: webhook URLs are credentials).
    recipient: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The reader's language, chosen when the delivery is created (a person's own, else the
    # service's default NOTIFY_LOCALE).
    locale: Mapped[str | None] = mapped_column(String(8))
    # While `sending`: until when (database clock) the worker that claimed it owns it, and
    # the token only that worker knows; an outcome is recorded only under its own token.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_token: Mapped[uuid.UUID | None] = mapped_column()
