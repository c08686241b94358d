"""Alembic, driven from code: `ticket-service migrate` and the test setup use it."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_config(database_url: str | None = None) -> Config:
    """alembic.ini from ALEMBIC_CONFIG, the working directory, or the source checkout."""
    candidates = [
        os.environ.get("ALEMBIC_CONFIG"),
        Path.cwd() / "alembic.ini",
        Path(__file__).resolve().parents[2] / "alembic.ini",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            config = Config(str(candidate))
            break
    else:
        raise FileNotFoundError("alembic.ini not found; set ALEMBIC_CONFIG")
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
