"""Statistics tests: the people of tests/tickets and SQL to lay down a fixed history."""

from __future__ import annotations

from tests.conversation import conftest as conversation_fixtures

people = conversation_fixtures.people
sql = conversation_fixtures.sql
