"""outbox: the delivery rows are the senders' queue; no procrastinate job per delivery

The partial index the senders' claim reads (notifications/sender.py): only the deliveries
not done with (pending, failed, sending), by id. The waiting `deliver` jobs are deleted:
the task is gone, and the senders pick up their pending rows by themselves.

Downgrade drops the index only: the deleted `deliver` jobs are not recreated (the code of
that revision queued a job per delivery; deliveries still pending then would need one
queued by hand, e.g. by an admin replay once they are dead).

Revision ID: 0012_outbox
Revises: 0015_unassigned
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_outbox"
down_revision: str | None = "0015_unassigned"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration keeps meaning what it meant when it was written.
UNSENT = "'pending', 'failed', 'sending'"


def upgrade() -> None:
    op.create_index(
        "ix_notification_deliveries_due",
        "notification_deliveries",
        ["id"],
        postgresql_where=sa.text(f"status IN ({UNSENT})"),
    )
    op.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'deliver' AND status = 'todo'")


def downgrade() -> None:
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
