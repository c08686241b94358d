"""the queue's counts from indexes alone: the tickets by service (all, and the active
ones) and the unassigned ones carry the columns the visibility rule reads (INCLUDE), so a
capped count is an index-only scan instead of a visit to each ticket's heap page

Revision ID: 0016_queuepage
Revises: 0012_outbox
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_queuepage"
down_revision: str | None = "0012_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration must keep meaning what it meant when written.
ACTIVE = "status IN ('open', 'processing', 'waiting')"
UNASSIGNED = f"assignee_id IS NULL AND {ACTIVE}"
# What the visibility rule reads of a ticket (tickets.models.VISIBILITY_COLUMNS).
VISIBILITY = ["author_id", "assignee_id", "service_id", "id"]


def upgrade() -> None:
    # The same names and keys, so every list that used them still does.
    op.drop_index("ix_tickets_service_number", table_name="tickets")
    op.create_index(
        "ix_tickets_service_number",
        "tickets",
        ["service_id", "number"],
        postgresql_include=[c for c in VISIBILITY if c != "service_id"],
    )
    op.drop_index("ix_tickets_active_service", table_name="tickets")
    op.create_index(
        "ix_tickets_active_service",
        "tickets",
        ["service_id", "number"],
        postgresql_where=ACTIVE,
        postgresql_include=[c for c in VISIBILITY if c != "service_id"],
    )
    op.drop_index("ix_tickets_active_unassigned", table_name="tickets")
    op.create_index(
        "ix_tickets_active_unassigned",
        "tickets",
        ["number"],
        postgresql_where=UNASSIGNED,
        postgresql_include=VISIBILITY,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_active_unassigned", table_name="tickets")
    op.create_index(
        "ix_tickets_active_unassigned", "tickets", ["number"], postgresql_where=UNASSIGNED
    )
    op.drop_index("ix_tickets_active_service", table_name="tickets")
    op.create_index(
        "ix_tickets_active_service", "tickets", ["service_id", "number"], postgresql_where=ACTIVE
    )
    op.drop_index("ix_tickets_service_number", table_name="tickets")
    op.create_index("ix_tickets_service_number", "tickets", ["service_id", "number"])
