"""conversation and teams: comments, service teams, followers, automatic assignment,
the `waiting` status, people's language and availability, a delivery's language

Revision ID: 0006_conversation
Revises: 0005_security
Create Date: 2026-11-30 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_conversation"
down_revision: str | None = "0005_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration must keep meaning what it meant when written.
STATUSES_BEFORE = "status IN ('open', 'processing', 'closed_success', 'closed_fail')"
STATUSES_AFTER = "status IN ('open', 'processing', 'waiting', 'closed_success', 'closed_fail')"


def _created_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.drop_constraint(op.f("ck_tickets_status"), "tickets", type_="check")
    op.create_check_constraint("status", "tickets", STATUSES_AFTER)
    op.add_column(
        "tickets",
        sa.Column("public_comments", sa.Integer(), server_default="0", nullable=False),
    )

    op.add_column("users", sa.Column("locale", sa.String(length=8), nullable=True))
    op.add_column(
        "users", sa.Column("available", sa.Boolean(), server_default="true", nullable=False)
    )
    op.add_column("users", sa.Column("away_until", sa.DateTime(timezone=True), nullable=True))

    op.add_column(
        "services",
        sa.Column("assignment", sa.String(length=16), server_default="manual", nullable=False),
    )
    op.create_check_constraint(
        "assignment", "services", "assignment IN ('manual', 'round_robin', 'least_loaded')"
    )

    op.add_column("notification_deliveries", sa.Column("locale", sa.String(length=8)))

    op.create_table(
        "comments",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        _created_at(),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_comments_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_comments_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_ticket", "comments", ["ticket_id", "id"])

    op.create_table(
        "service_agents",
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _created_at(),
        sa.Column("last_assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_agents_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_service_agents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("service_id", "user_id", name=op.f("pk_service_agents")),
    )
    op.create_index("ix_service_agents_user", "service_agents", ["user_id", "service_id"])

    op.create_table(
        "ticket_followers",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_followers_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ticket_followers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f("pk_ticket_followers")),
    )
    op.create_index("ix_ticket_followers_user", "ticket_followers", ["user_id", "ticket_id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_followers_user", table_name="ticket_followers")
    op.drop_table("ticket_followers")
    op.drop_index("ix_service_agents_user", table_name="service_agents")
    op.drop_table("service_agents")
    op.drop_index("ix_comments_ticket", table_name="comments")
    op.drop_table("comments")
    op.drop_column("notification_deliveries", "locale")
    op.drop_constraint(op.f("ck_services_assignment"), "services", type_="check")
    op.drop_column("services", "assignment")
    op.drop_column("users", "away_until")
    op.drop_column("users", "available")
    op.drop_column("users", "locale")
    op.drop_column("tickets", "public_comments")
    # A ticket left waiting cannot stay so under the old constraint: it is in progress.
    op.execute("UPDATE tickets SET status = 'processing' WHERE status = 'waiting'")
    op.drop_constraint(op.f("ck_tickets_status"), "tickets", type_="check")
    op.create_check_constraint("status", "tickets", STATUSES_BEFORE)
