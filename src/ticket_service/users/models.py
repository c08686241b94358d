from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped
from ticket_service.kit.crypto import EncryptedText


class Role(enum.StrEnum):
    employee = "employee"
    agent = "agent"
    admin = "admin"

    @property
    def is_staff(self) -> bool:
        """Agents and admins work tickets (agents those of their teams); employees only
        open and follow their own."""
        return self is not Role.employee


class User(Timestamped, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('employee', 'agent', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Discord snowflakes are kept as text: JSON clients lose precision on 64-bit numbers.
    discord_id: Mapped[str] = mapped_column(String(32), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    avatar: Mapped[str | None] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default=Role.employee.value)
    # Set when an admin chose the role by hand: Discord roles no longer override it at login.
    role_set_by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Per-user opt-out of the personal channels (e-mail, Discord direct message).
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    notify_discord: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    # The language messages to this person are written in (Discord's locale at sign-in);
    # None: not known, the service's NOTIFY_LOCALE.
    locale: Mapped[str | None] = mapped_column(String(8))
    # An agent away (holiday, sick) is skipped by automatic assignment, until `away_until`
    # if set.
    available: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    away_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The grant Discord gave at the last sign-in (encrypted): a session refresh reads the
    # person's guild membership and roles with it when no bot token is configured.
    discord_access_token: Mapped[str | None] = mapped_column(EncryptedText)
    discord_refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    discord_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


def display_name(user: User) -> str:
    """How a person is named to others: their Discord display name, else the username."""
    return user.display_name or user.username
