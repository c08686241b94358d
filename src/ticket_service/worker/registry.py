"""The job registry: one procrastinate App per process, every task registered on it.

The API only defers jobs, always on the connection of the request's transaction, so it
never opens the App. The worker opens it (worker/app.py `open_jobs`), which creates a
pool for the database named at that moment.
"""

from __future__ import annotations

from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool

_database: dict[str, str] = {}


def use_database(database_url: str) -> None:
    """Name the database the next `jobs.open_async()` connects to."""
    _database["url"] = database_url


def _pool(**kwargs: Any) -> AsyncConnectionPool:
    return AsyncConnectionPool(_database["url"], **kwargs)


jobs = procrastinate.App(connector=procrastinate.PsycopgConnector(pool_factory=_pool))
