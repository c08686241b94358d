"""discord front door: a service's Discord channel for ticket cards, the card of each
ticket (its message), and the Discord message a ticket was created from

Revision ID: 0007_discord
Revises: 0006_conversation
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_discord"
down_revision: str | None = "0006_conversation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("services", sa.Column("discord_channel_id", sa.String(length=20)))
    op.add_column("tickets", sa.Column("source_url", sa.String(length=300)))
    op.create_table(
        "discord_cards",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("channel_id", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=20), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_discord_cards_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_discord_cards")),
    )


def downgrade() -> None:
    op.drop_table("discord_cards")
    op.drop_column("tickets", "source_url")
    op.drop_column("services", "discord_channel_id")
