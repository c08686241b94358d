"""Rating tests: the people of tests/tickets, the notification world of tests/conversation."""

from __future__ import annotations

from tests.conversation import conftest as conversation_fixtures
from tests.conversation import test_notifications as notification_fixtures

build = conversation_fixtures.build
people = conversation_fixtures.people
staff = conversation_fixtures.staff
sql = conversation_fixtures.sql
smtp = notification_fixtures.smtp
world = notification_fixtures.world
