"""Who is the ticket's staff: may see its internal notes and move it along the workflow.

Being an agent is not enough: the agent must work this ticket's service (its team), or
have it assigned, or follow it; an admin always is. An agent who opened a ticket with
another service is its author there, like any employee.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.tickets.models import Ticket
from ticket_service.users.models import User


async def staff_on(session: AsyncSession, user: User, ticket: Ticket) -> bool:
    # Until service teams are in place every agent works every ticket, as before.
    return user.role_enum.is_staff
