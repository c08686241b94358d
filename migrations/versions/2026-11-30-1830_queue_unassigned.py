"""the queue's unassigned view: a partial index of the active tickets nobody holds, so its
capped count reads its own entries instead of every active ticket in the table

Revision ID: 0015_unassigned
Revises: 0014_search_flat
Create Date: 2026-11-30 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_unassigned"
down_revision: str | None = "0014_search_flat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration must keep meaning what it meant when written.
UNASSIGNED = "assignee_id IS NULL AND status IN ('open', 'processing', 'waiting')"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_active_unassigned", "tickets", ["number"], postgresql_where=UNASSIGNED
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_active_unassigned", table_name="tickets")
