"""search indexes without a pending list: a GIN index's pending list (`fastupdate`, up to
4 MB of recent insertions) is read in full by every search until a vacuum merges it, which
took a rare error code's search from 0.5 to 4.6 ms at a million tickets; new entries now
go straight into the index

Revision ID: 0014_search_flat
Revises: 0011_queuefast
Create Date: 2026-11-30 18:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_search_flat"
down_revision: str | None = "0011_queuefast"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_tickets_search", "ix_tickets_note_words")


def upgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        # Turning it off keeps what is already pending: merge that now.
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
