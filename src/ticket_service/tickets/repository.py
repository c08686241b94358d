"""All SQL about tickets. Every read goes through `visible_to`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row, Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from ticket_service.assignment.models import Follower, TeamMember
from ticket_service.catalog.models import Service
from ticket_service.events.registry import STAFF_ONLY_KINDS
from ticket_service.kit.pagination import DueKey
from ticket_service.sla.repository import SLA_FILTERS, due_order, past_due_key
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import Role, User

# Any select over tickets, whatever its columns.
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class TicketFilters:
    guid_ticket: uuid.UUID | None = None
    author: str | None = None
    status: str | None = None
    service: str | None = None
    # "me", "none" (unassigned) or a Discord id.
    assignee: str | None = None
    # "me": the tickets the caller follows.
    follower: str | None = None
    priority: str | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 50
    before_number: int | None = None
    # SLA (sla/): "at_risk" (80% of a target used) or "breached"; `sort="due"`: soonest
    # resolution due first (then tickets without a running clock), paged by `after_due`.
    sla: str | None = None
    sort: str = "number"
    after_due: DueKey | None = None


def _following(user_id: int) -> Any:
    return exists().where(Follower.ticket_id == Ticket.id, Follower.user_id == user_id)


def visible_to(stmt: S, user: User) -> S:
    """The one visibility rule. An admin sees every ticket; an agent those of the services
    whose team they are on, those assigned to them, those they follow, and their own; an
    employee their own. Mirrors `tickets.access.staff_on` (plus authorship)."""
    role = user.role_enum
    if role is Role.admin:
        return stmt
    if role is Role.agent:
        teams = select(TeamMember.service_id).where(TeamMember.user_id == user.id)
        return stmt.where(
            or_(
                Ticket.author_id == user.id,
                Ticket.assignee_id == user.id,
                Ticket.service_id.in_(teams),
                _following(user.id),
            )
        )
    return stmt.where(Ticket.author_id == user.id)


_author, _assignee = aliased(User), aliased(User)
# A ticket as the API shows it (the fields of TicketOut), in one row.
_VIEW_COLUMNS = (
    select(
        Ticket.id.label("guid_ticket"),
        Ticket.number,
        Ticket.title,
        Ticket.text,
        Ticket.status,
        Ticket.priority,
        Service.slug.label("service"),
        _author.discord_id.label("author"),
        _assignee.discord_id.label("assignee"),
        Ticket.created_at,
        Ticket.updated_at,
        Ticket.closed_at,
        Ticket.version,
        Ticket.public_comments.label("comments"),
        # The `sla` field (sla.schemas.sla_view), at the database's now.
        Ticket.sla_policy_id,
        Ticket.first_response_at,
        Ticket.first_response_due_at,
        Ticket.sla_resolution_seconds,
        Ticket.sla_used_seconds,
        Ticket.sla_clock_started_at,
        Ticket.resolution_due_at,
        func.now().label("db_now"),
    )
    .join(Service, Ticket.service_id == Service.id)
    .join(_author, Ticket.author_id == _author.id)
    .outerjoin(_assignee, Ticket.assignee_id == _assignee.id)
)


# The entity a change works on, with the people and service its rules and notifications
# read. Built once: generating the loader options cost as much as running the query.
_WITH_PEOPLE = select(Ticket).options(
    joinedload(Ticket.author, innerjoin=True),
    joinedload(Ticket.assignee),
    joinedload(Ticket.service, innerjoin=True),
)


async def get_visible(session: AsyncSession, user: User, guid: uuid.UUID) -> Ticket | None:
    stmt = visible_to(_WITH_PEOPLE.where(Ticket.id == guid), user)
    return (await session.execute(stmt)).scalar_one_or_none()


async def view_visible(
    session: AsyncSession, user: User, guid: uuid.UUID
) -> Row[*tuple[Any, ...]] | None:
    """One ticket as the API shows it, as a row: for reading, not for changing."""
    stmt = visible_to(_VIEW_COLUMNS.where(Ticket.id == guid), user)
    return (await session.execute(stmt)).one_or_none()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _user_id(discord_id: str) -> Select[int]:
    return select(User.id).where(User.discord_id == discord_id)


async def list_visible(
    session: AsyncSession, user: User, filters: TicketFilters
) -> tuple[Sequence[Row[*tuple[Any, ...]]], bool]:
    """Newest first by number; one row more than asked tells whether a next page exists.

    Rows, not entities: a page is read-only, and building 50 tickets with their people
    as ORM objects cost more than the query itself."""
    stmt = visible_to(_VIEW_COLUMNS, user)
    if filters.guid_ticket is not None:
        stmt = stmt.where(Ticket.id == filters.guid_ticket)
    if filters.author is not None:
        stmt = stmt.where(Ticket.author_id == _user_id(filters.author).scalar_subquery())
    if filters.assignee == "me":
        stmt = stmt.where(Ticket.assignee_id == user.id)
    elif filters.assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif filters.assignee is not None:
        stmt = stmt.where(Ticket.assignee_id == _user_id(filters.assignee).scalar_subquery())
    if filters.follower == "me":
        stmt = stmt.where(_following(user.id))
    if filters.status is not None:
        stmt = stmt.where(Ticket.status == filters.status)
    if filters.priority is not None:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.service is not None:
        service_id = select(Service.id).where(Service.slug == filters.service).scalar_subquery()
        stmt = stmt.where(Ticket.service_id == service_id)
    if filters.q:
        pattern = f"%{_escape_like(filters.q)}%"
        stmt = stmt.where(
            Ticket.title.ilike(pattern, escape="\\") | Ticket.text.ilike(pattern, escape="\\")
        )
    if filters.created_after is not None:
        stmt = stmt.where(Ticket.created_at >= filters.created_after)
    if filters.created_before is not None:
        stmt = stmt.where(Ticket.created_at < filters.created_before)
    if filters.sla is not None:
        stmt = stmt.where(SLA_FILTERS[filters.sla]())
    if filters.sort == "due":
        if filters.after_due is not None:
            stmt = stmt.where(past_due_key(filters.after_due))
        stmt = stmt.order_by(*due_order()).limit(filters.limit + 1)
    else:
        if filters.before_number is not None:
            stmt = stmt.where(Ticket.number < filters.before_number)
        stmt = stmt.order_by(Ticket.number.desc()).limit(filters.limit + 1)
    rows = (await session.execute(stmt)).all()
    return rows[: filters.limit], len(rows) > filters.limit


async def events_of(
    session: AsyncSession, ticket_id: uuid.UUID, with_staff_only: bool
) -> list[tuple[TicketEvent, str | None]]:
    actor = aliased(User)
    stmt = (
        select(TicketEvent, actor.discord_id)
        .outerjoin(actor, TicketEvent.actor_id == actor.id)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id)
    )
    if not with_staff_only:
        stmt = stmt.where(TicketEvent.kind.not_in(STAFF_ONLY_KINDS))
    return [(event, discord_id) for event, discord_id in (await session.execute(stmt)).all()]


async def active_service(session: AsyncSession, slug: str) -> Service | None:
    stmt = select(Service).where(Service.slug == slug, Service.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()
