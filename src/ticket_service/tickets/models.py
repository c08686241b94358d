from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, Unmapped, mapped_column, relationship, unmapped_column

from ticket_service.catalog.models import Service
from ticket_service.db import Base, Timestamped
from ticket_service.ratings.models import TicketRating
from ticket_service.users.models import User
from ticket_service.vocabulary import Priority, Status, sql_in


def _words(column: str, weight: str) -> str:
    # Russian stems ("принтеры" → принтер) plus every token verbatim (e-mails, error
    # codes, ids), so a query in either form matches; see tickets/search.py.
    return (
        f"setweight(to_tsvector('russian'::regconfig, {column}) || "
        f"to_tsvector('simple'::regconfig, {column}), '{weight}')"
    )


# The tickets still being worked (not closed), as a partial index's predicate.
_ACTIVE = text("status IN (" + ", ".join(repr(s.value) for s in Status if not s.is_closed) + ")")


# The columns of `tickets` the visibility rule (`tickets.repository.visible_to`, with
# `tickets.access.staff_clause`) reads: the author, the assignee, the service (its team)
# and the id (who follows it). `tests/web/test_work.py` holds the queue's counts to
# index-only plans, so a rule that reads another column fails there first.
VISIBILITY_COLUMNS = ("author_id", "assignee_id", "service_id", "id")


class Ticket(Timestamped, Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(sql_in("status", Status), name="status"),
        CheckConstraint(sql_in("priority", Priority), name="priority"),
        # Lists are newest first by `number` (keyset pagination), alone or under one filter.
        Index("ix_tickets_author_number", "author_id", "number"),
        Index("ix_tickets_status_number", "status", "number"),
        # Also the queue's "all" count: with the columns the visibility rule reads, its
        # capped count is an index-only scan, not a walk of the table's heap.
        Index(
            "ix_tickets_service_number",
            "service_id",
            "number",
            postgresql_include=[c for c in VISIBILITY_COLUMNS if c != "service_id"],
        ),
        Index("ix_tickets_assignee_number", "assignee_id", "number"),
        Index("ix_tickets_created_at", "created_at"),
        # SLA (sla/): the scanner and the `sla=` filters and `sort=due` read these ranges.
        # First-response instants matter only until the first response or the close.
        Index(
            "ix_tickets_first_response_warn_at",
            "first_response_warn_at",
            postgresql_where=text("first_response_at IS NULL AND closed_at IS NULL"),
        ),
        Index(
            "ix_tickets_first_response_due_at",
            "first_response_due_at",
            postgresql_where=text("first_response_at IS NULL AND closed_at IS NULL"),
        ),
        # Set only while the resolution clock runs.
        Index(
            "ix_tickets_resolution_warn_at",
            "resolution_warn_at",
            postgresql_where=text("resolution_warn_at IS NOT NULL"),
        ),
        Index("ix_tickets_resolution_due_at", "resolution_due_at", "number"),
        # The queue (web/): its views are the tickets still being worked, in due order and
        # counted per team. Closed tickets pile up forever; these hold only the active ones,
        # so a view's page and its capped count read a few index entries, not every
        # closed ticket of a service (or every ticket without a due instant).
        Index("ix_tickets_active_due", "resolution_due_at", "number", postgresql_where=_ACTIVE),
        # The two biggest capped counts ("my services", "unassigned") are answered from
        # these two alone (index-only scans): they carry every column the visibility rule
        # reads (VISIBILITY_COLUMNS), so a count of 1,000 reads ~13 index pages instead of
        # the ~450 heap pages its tickets live on (migration 0016_queuepage).
        Index(
            "ix_tickets_active_service",
            "service_id",
            "number",
            postgresql_where=_ACTIVE,
            postgresql_include=[c for c in VISIBILITY_COLUMNS if c != "service_id"],
        ),
        # The queue's "unassigned" count: a fifth of the active tickets, scattered through
        # the table; without it the capped count read 5,000 rows to find 1,000 (3.7 ms).
        Index(
            "ix_tickets_active_unassigned",
            "number",
            postgresql_where=text(f"assignee_id IS NULL AND {_ACTIVE.text}"),
            postgresql_include=list(VISIBILITY_COLUMNS),
        ),
        Index(
            "ix_tickets_sla_breached_at",
            "sla_breached_at",
            postgresql_where=text("sla_breached_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_auto_close_at",
            "auto_close_at",
            postgresql_where=text("auto_close_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_auto_close_warn_at",
            "auto_close_warn_at",
            postgresql_where=text("auto_close_warn_at IS NOT NULL"),
        ),
        # No pending list (`fastupdate`): every search would read all of it (up to 4 MB
        # of recent tickets' words) until a vacuum merged it (migration 0014_search_flat).
        Index(
            "ix_tickets_search",
            "search",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
        Index(
            "ix_tickets_note_words",
            "note_words",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )

    # Full-text search (tickets/search.py). Columns of the table, not attributes of the
    # entity (Unmapped): an INSERT never sends or returns them; read `Ticket.__table__.c`.
    # The words of the public comments and of the internal notes (weight C), kept by the
    # trigger `comments_refresh_ticket_words` (migration 0009_search) in the comment's
    # own statement, so no write path can forget them.
    comment_words: Unmapped[str] = unmapped_column(
        TSVECTOR, nullable=False, server_default=text("''::tsvector")
    )
    note_words: Unmapped[str] = unmapped_column(
        TSVECTOR, nullable=False, server_default=text("''::tsvector")
    )
    # Title (A) above text (B) above public comments (C): what everyone may search.
    search: Unmapped[str] = unmapped_column(
        TSVECTOR,
        Computed(f"{_words('title', 'A')} || {_words('text', 'B')} || comment_words"),
        nullable=False,
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    number: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    priority: Mapped[str] = mapped_column(String(8), default="normal")
    service_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("services.id"))
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id"))
    assignee_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer)
    # Kept with the ticket so a list shows it without counting every ticket's comments.
    public_comments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The Discord message the ticket was created from (the `Create ticket` context menu).
    source_url: Mapped[str | None] = mapped_column(String(300))

    # SLA state (sla/service.py keeps it; README "SLA"). All instants are the database's.
    # Not None: the ticket is under this policy (targets copied below when it opened).
    sla_policy_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sla_policies.id", ondelete="RESTRICT")
    )
    first_response_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The resolution clock: business seconds used before `sla_clock_started_at` (None: the
    # clock is paused, `waiting`, or stopped, closed), and the target it runs against.
    sla_resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    sla_used_seconds: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sla_clock_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # While the clock runs: when 80% and 100% of the resolution target will be used.
    resolution_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once a target is known missed: by the scanner when it records the breach, or when
    # a clock stops late (a late first response, a close or pause past the target).
    sla_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Auto-close of a ticket waiting for its author (any ticket, SLA or not).
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auto_close_warn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auto_close_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Optimistic locking: every UPDATE checks and bumps `version` (StaleDataError on a race).
    # eager_defaults: INSERT/UPDATE ... RETURNING the server-set columns (number, timestamps),
    # so a write needs no second SELECT to answer with the ticket.
    __mapper_args__ = {"version_id_col": version, "eager_defaults": True}

    service: Mapped[Service] = relationship(lazy="raise")
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="raise")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="raise")
    # The author's satisfaction rating, once closed (ratings/).
    rating: Mapped[TicketRating | None] = relationship(lazy="raise", viewonly=True)


class TicketEvent(Base):
    """The durable history of a ticket: one row per change, written with the change."""

    __tablename__ = "ticket_events"
    __table_args__ = (
        Index("ix_ticket_events_ticket", "ticket_id", "id"),
        # An SLA warning or breach is recorded once per ticket and target, however many
        # scanners run (sla/scanner.py inserts ... ON CONFLICT DO NOTHING against this).
        Index(
            "uq_ticket_events_sla_once",
            "ticket_id",
            "kind",
            text("(data ->> 'target')"),
            unique=True,
            postgresql_where=text("kind IN ('sla_warning', 'sla_breached')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    guid_action: Mapped[uuid.UUID | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    actor: Mapped[User | None] = relationship(lazy="raise")
    # Lets one flush INSERT a new ticket and its first event in the right order.
    ticket: Mapped[Ticket] = relationship(lazy="raise")

    __mapper_args__ = {"eager_defaults": True}
