from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base


class IdempotencyKey(Base):
    """One caller's key: written in the same transaction as the work it guards, with the
    response that transaction produced. A concurrent duplicate waits on the primary key
    until the first commits (or rolls back, freeing the key)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of method, path, query and the (canonical JSON) body: "the same request".
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    guid_action: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The response as sent: status, raw headers ([name, value] latin-1) and body bytes.
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    headers: Mapped[list[Any] | None] = mapped_column(JSONB)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
