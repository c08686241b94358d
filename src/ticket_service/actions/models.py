from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ticket_service.db import Base, Timestamped


class ActionStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @property
    def is_final(self) -> bool:
        return self in (ActionStatus.succeeded, ActionStatus.failed)


class AsyncAction(Timestamped, Base):
    """A request accepted with `Prefer: respond-async`: what to do, for whom, and how it went.

    Written in the accepting request's transaction together with its job, so an accepted
    request is never lost; the worker records the outcome here (the truth) and in Redis.
    """

    __tablename__ = "async_actions"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        Index("ix_async_actions_actor_id", "actor_id"),
    )

    guid_action: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    request_id: Mapped[str] = mapped_column(String(128))
    # {"api": "seed" | "v1", "body": <validated request body>, "params": <action log params>}
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.queued.value)
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
