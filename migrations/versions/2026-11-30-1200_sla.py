"""sla: business calendars, SLA policies per service and priority, a service's calendar
and auto-close days, the SLA state of each ticket, and the once-only index of SLA events

Revision ID: 0008_sla
Revises: 0007_discord
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_sla"
down_revision: str | None = "0007_discord"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TICKET_INSTANTS = (
    "first_response_at",
    "first_response_due_at",
    "first_response_warn_at",
    "sla_clock_started_at",
    "resolution_warn_at",
    "resolution_due_at",
    "sla_breached_at",
    "waiting_since",
    "auto_close_warn_at",
    "auto_close_at",
)


def _timestamps() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "business_calendars",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("holidays", sa.ARRAY(sa.Date()), server_default="{}", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_calendars")),
        sa.UniqueConstraint("slug", name=op.f("uq_business_calendars_slug")),
    )
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')",
            name=op.f("ck_sla_policies_priority"),
        ),
        sa.CheckConstraint(
            "first_response_minutes > 0", name=op.f("ck_sla_policies_first_response_positive")
        ),
        sa.CheckConstraint(
            "resolution_minutes > 0", name=op.f("ck_sla_policies_resolution_positive")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_sla_policies_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("service_id", "priority", name=op.f("uq_sla_policies_service_id")),
    )
    op.add_column("services", sa.Column("calendar_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "services",
        sa.Column("auto_close_days", sa.Integer(), server_default="7", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_services_auto_close_days"), "services", "auto_close_days >= 0"
    )
    op.create_foreign_key(
        op.f("fk_services_calendar_id_business_calendars"),
        "services",
        "business_calendars",
        ["calendar_id"],
        ["id"],
        ondelete="SET NULL",
    )

    op.add_column("tickets", sa.Column("sla_policy_id", sa.BigInteger(), nullable=True))
    op.add_column("tickets", sa.Column("sla_resolution_seconds", sa.Integer(), nullable=True))
    op.add_column(
        "tickets",
        sa.Column("sla_used_seconds", sa.Integer(), server_default="0", nullable=False),
    )
    for column in TICKET_INSTANTS:
        op.add_column("tickets", sa.Column(column, TS, nullable=True))
    op.create_foreign_key(
        op.f("fk_tickets_sla_policy_id_sla_policies"),
        "tickets",
        "sla_policies",
        ["sla_policy_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    open_first_response = sa.text("first_response_at IS NULL AND closed_at IS NULL")
    op.create_index(
        "ix_tickets_first_response_warn_at",
        "tickets",
        ["first_response_warn_at"],
        postgresql_where=open_first_response,
    )
    op.create_index(
        "ix_tickets_first_response_due_at",
        "tickets",
        ["first_response_due_at"],
        postgresql_where=open_first_response,
    )
    op.create_index(
        "ix_tickets_resolution_warn_at",
        "tickets",
        ["resolution_warn_at"],
        postgresql_where=sa.text("resolution_warn_at IS NOT NULL"),
    )
    op.create_index("ix_tickets_resolution_due_at", "tickets", ["resolution_due_at", "number"])
    op.create_index(
        "ix_tickets_sla_breached_at",
        "tickets",
        ["sla_breached_at"],
        postgresql_where=sa.text("sla_breached_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tickets_auto_close_at",
        "tickets",
        ["auto_close_at"],
        postgresql_where=sa.text("auto_close_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tickets_auto_close_warn_at",
        "tickets",
        ["auto_close_warn_at"],
        postgresql_where=sa.text("auto_close_warn_at IS NOT NULL"),
    )
    op.create_index(
        "uq_ticket_events_sla_once",
        "ticket_events",
        ["ticket_id", "kind", sa.text("(data ->> 'target')")],
        unique=True,
        postgresql_where=sa.text("kind IN ('sla_warning', 'sla_breached')"),
    )


def downgrade() -> None:
    op.drop_index("uq_ticket_events_sla_once", table_name="ticket_events")
    for index in (
        "ix_tickets_auto_close_warn_at",
        "ix_tickets_auto_close_at",
        "ix_tickets_sla_breached_at",
        "ix_tickets_resolution_due_at",
        "ix_tickets_resolution_warn_at",
        "ix_tickets_first_response_due_at",
        "ix_tickets_first_response_warn_at",
    ):
        op.drop_index(index, table_name="tickets")
    op.drop_constraint(op.f("fk_tickets_sla_policy_id_sla_policies"), "tickets", type_="foreignkey")
    for column in (*TICKET_INSTANTS, "sla_used_seconds", "sla_resolution_seconds", "sla_policy_id"):
        op.drop_column("tickets", column)
    op.drop_constraint(
        op.f("fk_services_calendar_id_business_calendars"), "services", type_="foreignkey"
    )
    op.drop_constraint(op.f("ck_services_auto_close_days"), "services", type_="check")
    op.drop_column("services", "auto_close_days")
    op.drop_column("services", "calendar_id")
    op.drop_table("sla_policies")
    op.drop_table("business_calendars")
