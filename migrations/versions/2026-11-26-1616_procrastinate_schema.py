"""procrastinate job queue schema (jobs live in PostgreSQL, next to the data they concern)

Revision ID: 0002_procrastinate
Revises: 0001_core
Create Date: 2026-11-26 16:16:00
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

revision: str = "0002_procrastinate"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A copy of procrastinate's schema.sql as of the version this migration was written for,
# not the installed library's: upgrading procrastinate must not change what this does.
# Its later schema changes ship as later migrations (README, "Upgrading procrastinate").
SCHEMA_SQL = Path(__file__).resolve().parents[1] / "sql" / "procrastinate_3.10.0.sql"


def upgrade() -> None:
    op.execute(SCHEMA_SQL.read_text(encoding="utf-8"))


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS procrastinate_periodic_defers, procrastinate_events,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DO $$
        DECLARE fn record;
        BEGIN
            FOR fn IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                      JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE 'DROP FUNCTION ' || fn.sig || ' CASCADE';
            END LOOP;
        END $$;
        DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
            procrastinate_job_status CASCADE;
        """
    )
