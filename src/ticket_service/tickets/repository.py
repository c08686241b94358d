"""All SQL about tickets. Every read goes through `visible_to`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Row, Select, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from ticket_service.assignment.models import TeamMember
from ticket_service.catalog.cache import cache_of
from ticket_service.catalog.models import Service
from ticket_service.events.registry import STAFF_ONLY_KINDS
from ticket_service.kit.pagination import DueKey
from ticket_service.ratings.models import TicketRating
from ticket_service.sla.repository import SLA_FILTERS, due_order, past_due_key
from ticket_service.tickets.access import Viewer, following, staff_clause
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import Status

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
    # "me": the tickets of the services whose team the caller is on.
    team: str | None = None
    # Only the tickets still being worked (open, processing, waiting).
    active: bool = False
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


def _teams_of(viewer: Viewer) -> Select[int]:
    return select(TeamMember.service_id).where(TeamMember.user_id == viewer)


def visible_to(stmt: S, user: User) -> S:
    """The one visibility rule. An admin sees every ticket; an agent those of the services
    whose team they are on, those assigned to them, those they follow, and their own; an
    employee their own. Mirrors `tickets.access.staff_on` (plus authorship)."""
    return _visible(stmt, user.role_enum, user.id)


def _visible(stmt: S, role: Role, viewer: Viewer) -> S:
    if role is Role.admin:
        return stmt
    if role is Role.agent:
        teams = _teams_of(viewer)
        return stmt.where(
            or_(
                Ticket.author_id == viewer,
                Ticket.assignee_id == viewer,
                Ticket.service_id.in_(teams),
                following(viewer),
            )
        )
    return stmt.where(Ticket.author_id == viewer)


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
        # One column (JSON) for the nested `rating`: rows stay flat for the list's renderer.
        case(
            (
                TicketRating.ticket_id.is_not(None),
                func.json_build_object(
                    "score",
                    TicketRating.score,
                    "comment",
                    TicketRating.comment,
                    "created_at",
                    TicketRating.created_at,
                ),
            ),
        ).label("rating"),
        # The `sla` field (sla.schemas.sla_view), at the database's now.
        Ticket.sla_policy_id,
        Ticket.first_response_at,
        Ticket.first_response_due_at,
        Ticket.sla_resolution_seconds,
        Ticket.sla_used_seconds,
        Ticket.sla_clock_started_at,
        Ticket.resolution_due_at,
        Ticket.first_response_warn_at,
        Ticket.resolution_warn_at,
        func.now().label("db_now"),
    )
    .join(Service, Ticket.service_id == Service.id)
    .join(_author, Ticket.author_id == _author.id)
    .outerjoin(_assignee, Ticket.assignee_id == _assignee.id)
    .outerjoin(TicketRating, TicketRating.ticket_id == Ticket.id)
)


# The entity a change works on, with the people and service its rules and notifications
# read. Built once: generating the loader options cost as much as running the query.
_WITH_PEOPLE = select(Ticket).options(
    joinedload(Ticket.author, innerjoin=True),
    joinedload(Ticket.assignee),
    joinedload(Ticket.service, innerjoin=True),
    joinedload(Ticket.rating),
)


# One ticket by id, as seen by one person: built once per role, with the ticket and the
# person as bind parameters. Building the statement (the visibility rule's clauses) cost
# as much CPU as running it.
_VIEWER: BindParameter[int] = bindparam("viewer_id")
_GUID: BindParameter[uuid.UUID] = bindparam("guid_ticket")


@functools.cache
def _one_ticket(shape: str, role: Role) -> Select[Any]:
    base: Select[Any] = {
        "entity": _WITH_PEOPLE,
        "entity_and_staff": _WITH_PEOPLE.add_columns(staff_clause(role, _VIEWER)),
        "view": _VIEW_COLUMNS,
    }[shape]
    return _visible(base.where(Ticket.id == _GUID), role, _VIEWER)


async def _one(session: AsyncSession, shape: str, user: User, guid: uuid.UUID) -> Any:
    stmt = _one_ticket(shape, user.role_enum)
    return await session.execute(stmt, {"viewer_id": user.id, "guid_ticket": guid})


async def get_visible(session: AsyncSession, user: User, guid: uuid.UUID) -> Ticket | None:
    return (await _one(session, "entity", user, guid)).scalar_one_or_none()  # type: ignore[no-any-return]


async def get_visible_as(
    session: AsyncSession, user: User, guid: uuid.UUID
) -> tuple[Ticket, bool] | None:
    """The visible ticket and whether `user` is its staff, in one statement."""
    row = (await _one(session, "entity_and_staff", user, guid)).one_or_none()
    return (row[0], bool(row[1])) if row is not None else None


async def view_visible(
    session: AsyncSession, user: User, guid: uuid.UUID
) -> Row[*tuple[Any, ...]] | None:
    """One ticket as the API shows it, as a row: for reading, not for changing."""
    return (await _one(session, "view", user, guid)).one_or_none()  # type: ignore[no-any-return]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _user_id(discord_id: str) -> Select[int]:
    return select(User.id).where(User.discord_id == discord_id)


async def list_visible(
    session: AsyncSession, user: User, filters: TicketFilters
) -> tuple[Sequence[Row[*tuple[Any, ...]]], bool]:
    """Newest first by number, or with `sort=due` soonest resolution due first; one row
    more than asked tells whether a next page exists.

    Rows, not entities: a page is read-only, and building 50 tickets with their people
    as ORM objects cost more than the query itself."""
    stmt = apply_filters(visible_to(_VIEW_COLUMNS, user), user, filters)
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


def apply_filters(stmt: S, user: User, filters: TicketFilters) -> S:
    """The filters of a list (not the visibility, not the page): one definition for the
    list and for the counts of the queue's views."""
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
        stmt = stmt.where(following(user.id))
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
    if filters.team == "me":
        stmt = stmt.where(Ticket.service_id.in_(_teams_of(user.id)))
    if filters.active:
        stmt = stmt.where(Ticket.status.in_([s.value for s in Status if not s.is_closed]))
    if filters.sla is not None:
        stmt = stmt.where(SLA_FILTERS[filters.sla]())
    return stmt


async def count_visible(
    session: AsyncSession, user: User, views: Mapping[str, TicketFilters]
) -> dict[str, int]:
    """How many visible tickets each of `views` lists, in ONE query over the visible set:
    `count(*) FILTER (WHERE <the view's filters>)` per view (paging fields are ignored)."""
    if not views:
        return {}
    columns = []
    for name, filters in views.items():
        where = apply_filters(select(Ticket.id), user, filters).whereclause
        counted = func.count() if where is None else func.count().filter(where)
        columns.append(counted.label(name))
    stmt = visible_to(select(*columns).select_from(Ticket), user)
    row = (await session.execute(stmt)).one()
    return {name: int(row._mapping[name]) for name in views}


_actor = aliased(User)
# Built once, like _WITH_PEOPLE: building it cost a tenth of a ticket page.
_EVENTS = (
    select(TicketEvent, _actor.discord_id)
    .outerjoin(_actor, TicketEvent.actor_id == _actor.id)
    .order_by(TicketEvent.id)
)


async def events_of(
    session: AsyncSession, ticket_id: uuid.UUID, with_staff_only: bool
) -> list[tuple[TicketEvent, str | None]]:
    stmt = _EVENTS.where(TicketEvent.ticket_id == ticket_id)
    if not with_staff_only:
        stmt = stmt.where(TicketEvent.kind.not_in(STAFF_ONLY_KINDS))
    return [(event, discord_id) for event, discord_id in (await session.execute(stmt)).all()]


async def active_service(session: AsyncSession, slug: str) -> Service | None:
    """The active service by slug: from this process's catalog cache when it has it."""
    cache = cache_of(session)
    if cache is not None and (service := cache.lookup(session, slug)) is not None:
        return service
    read_at = cache.clock() if cache is not None else 0.0
    stmt = select(Service).where(Service.slug == slug, Service.is_active.is_(True))
    service = (await session.execute(stmt)).scalar_one_or_none()
    if cache is not None and service is not None:
        cache.remember(service, read_at)
    return service
