from __future__ import annotations

from sqlalchemy import ARRAY, BigInteger, Boolean, Identity, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped
from ticket_service.kit.crypto import EncryptedText

DEFAULT_SERVICE_SLUG = "general"


class Service(Timestamped, Base):
    __tablename__ = "services"

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
