"""HTTP semantics tests: the people of tests/tickets and raw SQL for what the API does
not offer (counting rows, moving a row back in the database's clock)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.tickets import conftest as ticket_fixtures

people = ticket_fixtures.people


class Sql:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def count(self, table: str) -> int:
        return int(self(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608 - our names


@pytest.fixture
def sql(database_url: str) -> Sql:
    return Sql(database_url)
