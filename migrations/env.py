"""Alembic environment: runs migrations over the service's own async engine settings."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from ticket_service.config import Settings
from ticket_service.models import metadata

config = context.config
if config.config_file_name and not config.attributes.get("quiet"):
    # Show what is applied (`ticket-service migrate`), without muting the app's own loggers.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("database_url") or Settings().database_url
    return Settings(database_url=url).sqlalchemy_url


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    # procrastinate's tables come from its own schema file, not from our models.
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, compare_type=True, include_name=_ours
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
