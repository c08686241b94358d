"""Migrations are reversible and match the models."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command

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
