"""Migrations are reversible and match the models."""

from __future__ import annotations

from pathlib import Path

import procrastinate
import psycopg
import pytest
from alembic import command
from procrastinate.schema import SchemaManager

from tests.conftest import with_database
from ticket_service.migrate import alembic_config, downgrade, upgrade

SCRATCH_DB = "ticket_migrations"


@pytest.fixture
def scratch_url(postgres_server_url: str) -> str:
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
    return with_database(postgres_server_url, SCRATCH_DB)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    upgrade(scratch_url)
    assert {"users", "tickets", "ticket_events", "services", "procrastinate_jobs"} <= _tables(
        scratch_url
    )
    downgrade(scratch_url, "base")
    assert _tables(scratch_url) <= {"alembic_version"}
    upgrade(scratch_url)
    with psycopg.connect(scratch_url) as conn:
        slugs = [r[0] for r in conn.execute("SELECT slug FROM services").fetchall()]
    assert slugs == ["general"]


def test_models_match_migrations(database_url: str) -> None:
    # Raises when autogenerate would produce operations: a model changed without a migration.
    command.check(alembic_config(database_url))


# --- procrastinate's schema is a static copy --------------------------------------------------

SQL_DIR = Path(__file__).resolve().parents[2] / "migrations" / "sql"
PINNED_SCHEMA_DB = "ticket_procrastinate_pinned"

# Everything of procrastinate's that jobs depend on: columns, functions (with their bodies),
# enum values and triggers. Two databases answering the same are the same schema to it.
_PROCRASTINATE_SHAPE = """
SELECT 'column', table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
  FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name LIKE 'procrastinate\\_%'
UNION ALL
SELECT 'function', p.oid::regprocedure::text || ' ' || md5(p.prosrc)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate\\_%'
UNION ALL
SELECT 'enum', t.typname || ' ' || e.enumlabel
  FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
 WHERE t.typname LIKE 'procrastinate\\_%'
UNION ALL
SELECT 'trigger', tgrelid::regclass::text || ' ' || tgname
  FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'procrastinate\\_%'
"""


def _shape(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return {(kind, what) for kind, what in conn.execute(_PROCRASTINATE_SHAPE).fetchall()}


def test_the_pinned_procrastinate_schema_is_kept_as_a_file() -> None:
    """Upgrading procrastinate fails here until its schema changes ship as a new migration
    (and a new file for it): the 0002 migration itself never changes."""
    pinned = SQL_DIR / f"procrastinate_{procrastinate.__version__}.sql"
    assert pinned.is_file(), f"no {pinned.name}: procrastinate was upgraded without a migration"
    assert pinned.read_text(encoding="utf-8") == SchemaManager.get_schema()
    migration = next(Path(SQL_DIR.parent, "versions").glob("*_procrastinate_schema.py"))
    assert "SchemaManager" not in migration.read_text(encoding="utf-8")


def test_migrated_database_has_the_pinned_procrastinate_schema(
    database_url: str, postgres_server_url: str
) -> None:
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PINNED_SCHEMA_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PINNED_SCHEMA_DB}")
    reference = with_database(postgres_server_url, PINNED_SCHEMA_DB)
    with psycopg.connect(reference, autocommit=True) as conn:
        conn.execute(SchemaManager.get_schema().encode())  # what the library itself would apply
    expected = _shape(reference)
    assert expected, "the reference database has no procrastinate schema"
    migrated = _shape(database_url)
    assert migrated == expected, {"missing": expected - migrated, "extra": migrated - expected}
