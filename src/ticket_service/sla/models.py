"""Business calendars and SLA policies (admin-managed). The SLA state of each ticket lives
on the ticket row (tickets/models.py), so lists, filters and the scanner read one table."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped
from ticket_service.vocabulary import Priority, sql_in


class CalendarRow(Timestamped, Base):
    """A business calendar as stored; `sla.service.calendar_of` turns it into the pure
    `sla.calendar.BusinessCalendar`."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    # {"mon": [["09:00", "18:00"]], ...}: local working intervals per weekday; absent = day off.
    hours: Mapped[dict[str, Any]] = mapped_column(JSONB)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), default=list, server_default="{}")


class SlaPolicy(Timestamped, Base):
    """A service's targets for one priority, in business minutes of the service's calendar.
    Rows are never deleted (tickets point at the policy they were opened under); a
    priority taken out of the service's SLA is `active = false`."""

    __tablename__ = "sla_policies"
    __table_args__ = (
        UniqueConstraint("service_id", "priority"),
        CheckConstraint(sql_in("priority", Priority), name="priority"),
        CheckConstraint("first_response_minutes > 0", name="first_response_positive"),
        CheckConstraint("resolution_minutes > 0", name="resolution_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    service_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("services.id", ondelete="CASCADE")
    )
    priority: Mapped[str] = mapped_column(String(8))
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
