"""the queue's partial indexes: the active tickets (open, processing, waiting) in due order
and per service, for the web queue's views and their capped counts

Revision ID: 0011_queuefast
Revises: 0009_search
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_queuefast"
down_revision: str | None = "0009_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration must keep meaning what it meant when written.
ACTIVE = "status IN ('open', 'processing', 'waiting')"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_active_due",
        "tickets",
        ["resolution_due_at", "number"],
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "ix_tickets_active_service",
        "tickets",
        ["service_id", "number"],
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_active_service", table_name="tickets")
    op.drop_index("ix_tickets_active_due", table_name="tickets")
