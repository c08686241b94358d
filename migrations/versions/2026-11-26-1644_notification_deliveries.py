"""notifications: delivery records, per-user opt-outs, per-service channel overrides

Revision ID: 0003_notifications
Revises: 0002_procrastinate
Create Date: 2026-11-26 16:44:56.646932
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_notifications"
down_revision: str | None = "0002_procrastinate"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["ticket_events.id"],
            name=op.f("fk_notification_deliveries_event_id_ticket_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
        sa.UniqueConstraint(
            "event_id", "channel", "recipient", name=op.f("uq_notification_deliveries_event_id")
        ),
    )
    op.create_index(
        "ix_notification_deliveries_status_id",
        "notification_deliveries",
        ["status", "id"],
        unique=False,
    )
    op.add_column("services", sa.Column("slack_webhook_url", sa.Text(), nullable=True))
    op.add_column("services", sa.Column("discord_webhook_url", sa.Text(), nullable=True))
    op.add_column(
        "services",
        sa.Column(
            "notify_emails", sa.ARRAY(sa.String(length=320)), server_default="{}", nullable=False
        ),
    )
    op.add_column(
        "users", sa.Column("notify_email", sa.Boolean(), server_default="true", nullable=False)
    )
    op.add_column(
        "users", sa.Column("notify_discord", sa.Boolean(), server_default="true", nullable=False)
    )


def downgrade() -> None:
    op.drop_column("users", "notify_discord")
    op.drop_column("users", "notify_email")
    op.drop_column("services", "notify_emails")
    op.drop_column("services", "discord_webhook_url")
    op.drop_column("services", "slack_webhook_url")
    op.drop_index("ix_notification_deliveries_status_id", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
