"""security hardening: delivery leases, Discord grants kept for session refresh

Revision ID: 0005_security
Revises: 0004_async_actions
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_security"
down_revision: str | None = "0004_async_actions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notification_deliveries",
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("notification_deliveries", sa.Column("lease_token", sa.Uuid(), nullable=True))
    # Fernet tokens (kit/crypto.py): text, never the credential itself.
    op.add_column("users", sa.Column("discord_access_token", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("discord_refresh_token", sa.Text(), nullable=True))
    op.add_column(
        "users", sa.Column("discord_token_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("users", "discord_token_expires_at")
    op.drop_column("users", "discord_refresh_token")
    op.drop_column("users", "discord_access_token")
    # A delivery caught mid-send goes back to the queue's view of it: pending.
    op.execute("UPDATE notification_deliveries SET status = 'pending' WHERE status = 'sending'")
    op.drop_column("notification_deliveries", "lease_token")
    op.drop_column("notification_deliveries", "lease_until")
