"""The people of tests/tickets (author, other employee, agent on `general`, admin)."""

from tests.tickets.conftest import people  # noqa: F401  (a fixture)
