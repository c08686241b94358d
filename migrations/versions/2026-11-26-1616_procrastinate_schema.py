"""procrastinate job queue schema (jobs live in PostgreSQL, next to the data they concern)

Revision ID: 0002_procrastinate
Revises: 0001_core
Create Date: 2026-11-26 16:16:00
"""

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0002_procrastinate"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The schema of the pinned procrastinate version; its upgrades ship as later migrations.
    op.execute(SchemaManager.get_schema())


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
