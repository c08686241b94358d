"""Who is the ticket's staff: may see its internal notes and move it along the workflow.

Being an agent is not enough: the agent must work this ticket's service (its team), or
have it assigned, or follow it; an admin always is. An agent who opened a ticket with
another service is its author there, like any employee. What an agent may *see* is the
same rule plus their own tickets (`tickets.repository.visible_to`).
"""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, Exists, exists, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.assignment.models import Follower, TeamMember
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import Role, User

# Who is looking, in a statement: a user id, or a bind parameter of a statement built once.
Viewer = int | BindParameter[int]


def _on_team(viewer: Viewer) -> ColumnElement[bool]:
    # IN over the caller's teams, not a correlated EXISTS: a list filters thousands of
    # rows by it, and the planner hashes an uncorrelated IN once per statement where an
    # EXISTS would be run again for every row.
    teams = select(TeamMember.service_id).where(TeamMember.user_id == viewer)
    return Ticket.service_id.in_(teams)


def following(viewer: Viewer) -> Exists:
    return exists().where(Follower.ticket_id == Ticket.id, Follower.user_id == viewer)


def staff_clause(role: Role, viewer: Viewer) -> ColumnElement[bool]:
    """`staff_on` as a column over `tickets`: read with the ticket itself, in the one
    statement that loads it (`tickets.service.get_ticket_as`), and the rule lists use
    (who may search internal notes, `tickets.search`)."""
    if role is Role.admin:
        return true()
    if not role.is_staff:
        return false()
    return or_(Ticket.assignee_id == viewer, _on_team(viewer), following(viewer))


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
    clause = or_(_on_team(user.id), following(user.id)) if counting_following else _on_team(user.id)
    return bool(await session.scalar(select(clause).where(Ticket.id == ticket.id)))
