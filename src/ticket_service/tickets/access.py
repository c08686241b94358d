"""Who is the ticket's staff: may see its internal notes and move it along the workflow.

Being an agent is not enough: the agent must work this ticket's service (its team), or
have it assigned, or follow it; an admin always is. An agent who opened a ticket with
another service is its author there, like any employee. What an agent may *see* is the
same rule plus their own tickets (`tickets.repository.visible_to`).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.assignment.models import Follower, TeamMember
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import Role, User


def staff_clause(user: User, *, counting_following: bool = True) -> ColumnElement[bool]:
    """The rule as SQL over `tickets` rows: where `user` is the ticket's staff. Lists use it
    (visibility, who may search internal notes); `staff_on` asks it of one ticket."""
    role = user.role_enum
    if role is Role.admin:
        return true()
    if not role.is_staff:
        return false()
    teams = select(TeamMember.service_id).where(TeamMember.user_id == user.id)
    rules = [Ticket.assignee_id == user.id, Ticket.service_id.in_(teams)]
    if counting_following:
        rules.append(exists().where(Follower.ticket_id == Ticket.id, Follower.user_id == user.id))
    return or_(*rules)


async def staff_on(
    session: AsyncSession, user: User, ticket: Ticket, *, counting_following: bool = True
) -> bool:
    """Admin, or an agent on the ticket's service team, or its assignee, or (unless
    `counting_following` is False: may this person start following?) an agent following it."""
    role = user.role_enum
    if role is Role.admin:
        return True
    if not role.is_staff:
        return False
    if ticket.assignee_id == user.id:
        return True
    rule = staff_clause(user, counting_following=counting_following)
    return bool(await session.scalar(select(exists().where(Ticket.id == ticket.id, rule))))
