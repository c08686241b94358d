"""All SQL about tickets. Every read goes through `visible_to`."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.orm.attributes import set_committed_value

from ticket_service.assignment.models import TeamMember
from ticket_service.catalog.cache import Offer, cache_of
from ticket_service.catalog.models import Service
from ticket_service.db import revive
from ticket_service.events.registry import STAFF_ONLY_KINDS
from ticket_service.kit import driver_sql
from ticket_service.kit.driver_sql import DriverStatement
from ticket_service.kit.pagination import KeyPart, Kind, Nullable
from ticket_service.ratings.models import TicketRating
from ticket_service.sla.models import SlaPolicy
from ticket_service.sla.repository import SLA_FILTERS
from ticket_service.tickets import search
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
    # SLA (sla/): "at_risk" (80% of a target used) or "breached".
    sla: str | None = None
    # A name in SORTS; `after`: the sort key of the previous page's last row.
    sort: str = "newest"
    after: tuple[KeyPart, ...] | None = None


@dataclass(frozen=True)
class SortKey:
    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    descending: bool = True
    # Ascending with nulls after every value (a ticket with no running SLA clock has no
    # due instant: it comes after all that have one).
    nulls_last: bool = False

    def order(self) -> ColumnElement[Any]:
        if self.descending:
            return self.column.desc()
        return self.column.asc().nulls_last() if self.nulls_last else self.column.asc()


@dataclass(frozen=True)
class Sort:
    """One order of ticket lists: its key, most significant column first (the last one
    unique, so a keyset cursor is exact), and each column's Python type (what a cursor
    carries). `keys` gets the text match, for orders that rank by it."""

    keys: Callable[[search.Match | None], tuple[SortKey, ...]]
    kinds: tuple[Kind, ...]
    needs_q: bool = False
    # Order only the newest `window` tickets the filters select (None: all of them).
    window: int | None = None


def _newest(found: search.Match | None) -> ColumnElement[int] | InstrumentedAttribute[int]:
    """The ticket number to order by. For a rare query an expression of it (`number + 0`),
    which no index orders: PostgreSQL then reads the matches from the GIN index and sorts
    them, instead of walking the number index backwards through every ticket."""
    return Ticket.number + 0 if found is not None and found.rare else Ticket.number


def _relevance(found: search.Match | None) -> tuple[SortKey, ...]:
    # Without a query (the service refuses that: needs_q) every rank would be equal.
    rank = found.rank if found is not None else literal(0.0, Float(53))
    return (SortKey(rank), SortKey(Ticket.number))


RELEVANCE_WINDOW = 1000

# Adding an order is one entry (the API's `sort` parameter lists these).
SORTS: dict[str, Sort] = {
    "newest": Sort(lambda found: (SortKey(_newest(found)),), (int,)),
    # Ranking reads every candidate's words: the newest RELEVANCE_WINDOW matches keep a
    # common word as fast at a million tickets as at ten thousand.
    "relevance": Sort(_relevance, (float, int), needs_q=True, window=RELEVANCE_WINDOW),
    # SLA (sla/): soonest resolution due first, then the tickets with no running clock.
    "due": Sort(
        lambda found: (
            SortKey(Ticket.resolution_due_at, descending=False, nulls_last=True),
            SortKey(Ticket.number, descending=False),
        ),
        (Nullable(datetime), int),
    ),
}


def _after(keys: tuple[SortKey, ...], values: tuple[KeyPart, ...]) -> ColumnElement[bool]:
    """Rows after the one whose key is `values`: beyond it on the first column, or equal
    there and beyond on the next, and so on."""
    ties: list[ColumnElement[bool]] = []
    ways: list[ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=True):
        if value is None:  # a nulls-last column: nothing is beyond null but more nulls
            ties.append(key.column.is_(None))
            continue
        beyond: ColumnElement[bool] = key.column < value if key.descending else key.column > value
        if key.nulls_last:
            beyond = or_(beyond, key.column.is_(None))
        ways.append(and_(*ties, beyond))
        ties.append(key.column == value)
    return or_(*ways)


def _teams_of(viewer: Viewer) -> Select[int]:
    return select(TeamMember.service_id).where(TeamMember.user_id == viewer)


def visible_to(stmt: S, user: User) -> S:
    """The one visibility rule: the caller's own tickets and those they are staff on
    (`tickets.access.staff_clause`). An admin sees every ticket; an agent those of the
    services whose team they are on, those assigned to them, those they follow, and
    their own; an employee their own."""
    return _visible(stmt, user.role_enum, user.id)


def _visible(stmt: S, role: Role, viewer: Viewer) -> S:
    if role is Role.admin:
        return stmt
    if role is Role.agent:
        return stmt.where(or_(Ticket.author_id == viewer, staff_clause(role, viewer)))
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


# The entity a change works on, with the people, service and rating its rules,
# notifications and answer read: each as its model's mapped columns, in that order, so a
# row becomes the entities (`_attach`) without the ORM's loading. The ORM's load of the
# same row (joinedload) cost 0.3 ms of CPU more per change (kit/driver_sql.py).
# Each part: the ticket's relationship it fills (None: the ticket itself), its model, and
# the entity (an alias for the people) its columns are read from.
_PARTS: tuple[tuple[str | None, type[Any], Any], ...] = (
    (None, Ticket, Ticket),
    ("author", User, _author),
    ("assignee", User, _assignee),
    ("service", Service, Service),
    ("rating", TicketRating, TicketRating),
)
_PART_KEYS = tuple(tuple(a.key for a in inspect(model).column_attrs) for _, model, _ in _PARTS)
_PART_COLUMNS: list[Any] = [
    getattr(entity, key)
    for (_, _, entity), keys in zip(_PARTS, _PART_KEYS, strict=True)
    for key in keys
]


# One ticket by id, as seen by one person: built once per role, with the ticket and the
# person as bind parameters. Building the statement (the visibility rule's clauses) cost
# as much CPU as running it.
_VIEWER: BindParameter[int] = bindparam("viewer_id")
_GUID: BindParameter[uuid.UUID] = bindparam("guid_ticket")


@functools.cache
def _view(role: Role) -> DriverStatement:
    one: Select[*tuple[Any, ...]] = _VIEW_COLUMNS.where(Ticket.id == _GUID)
    return DriverStatement(_visible(one, role, _VIEWER))


@functools.cache
def _to_change(role: Role) -> DriverStatement:
    stmt: Select[Any] = (
        select(*_PART_COLUMNS, staff_clause(role, _VIEWER))
        .select_from(Ticket)
        .join(Service, Ticket.service_id == Service.id)
        .join(_author, Ticket.author_id == _author.id)
        .outerjoin(_assignee, Ticket.assignee_id == _assignee.id)
        .outerjoin(TicketRating, TicketRating.ticket_id == Ticket.id)
        .where(Ticket.id == _GUID)
    )
    return DriverStatement(_visible(stmt, role, _VIEWER))


async def get_visible(session: AsyncSession, user: User, guid: uuid.UUID) -> Ticket | None:
    found = await get_visible_as(session, user, guid)
    return found[0] if found is not None else None


async def get_visible_as(
    session: AsyncSession, user: User, guid: uuid.UUID
) -> tuple[Ticket, bool] | None:
    """The visible ticket, loaded with its author, assignee, service and rating, and
    whether `user` is its staff, in one statement."""
    statement = _to_change(user.role_enum)
    row = await statement.fetch_one(session, {"viewer_id": user.id, "guid_ticket": guid})
    if row is None:
        return None
    return _attach(session, row), bool(row[-1])


def _attach(session: AsyncSession, row: tuple[Any, ...]) -> Ticket:
    """The row's entities in `session`, related as a joined load leaves them. One the
    session holds already (the caller, from the token check) is used as it is, as a load
    without `populate_existing` does."""
    ticket: Any = None
    start = 0
    for (relation, model, _), keys in zip(_PARTS, _PART_KEYS, strict=True):
        values = dict(zip(keys, row[start : start + len(keys)], strict=True))
        start += len(keys)
        entity = _in_session(session, model, values)
        if relation is None:
            ticket = entity
        elif relation not in ticket.__dict__:  # a held ticket keeps what it has
            set_committed_value(ticket, relation, entity)
    return ticket  # type: ignore[no-any-return]


def _in_session(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> Any:
    mapper = inspect(model)
    ident = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    if ident[1] == (None,):
        return None  # the outer join found no row
    held = session.sync_session.identity_map.get(ident)
    if held is not None:
        return held
    entity = revive(model, values)
    session.add(entity)
    return entity


async def view_visible(session: AsyncSession, user: User, guid: uuid.UUID) -> Any | None:
    """One ticket as the API shows it, as a row (a named tuple, as a list's): for reading,
    not for changing."""
    rows = await _view(user.role_enum).fetch_all(
        session, {"viewer_id": user.id, "guid_ticket": guid}
    )
    return rows[0] if rows else None


def _user_id(discord_id: str) -> Select[int]:
    return select(User.id).where(User.discord_id == discord_id)


# The statuses still being worked, as literals, not parameters: PostgreSQL plans a prepared
# statement (psycopg prepares one run five times) once for any parameters, and only a
# literal list proves the partial indexes' predicate (tickets.models._ACTIVE).
_ACTIVE: list[ColumnElement[str]] = [
    literal_column(repr(s.value)) for s in Status if not s.is_closed
]


def _literal(n: int) -> ColumnElement[int]:
    """A LIMIT written into the statement: a parameter's generic plan does not know it
    is small and reads every candidate row (the queue's counts: 9 → 50 ms)."""
    return literal_column(str(int(n)), Integer)


def _conditions(
    role: Role, viewer: Viewer, filters: TicketFilters
) -> tuple[list[Any], search.Match | None]:
    """The filters of a list (not the visibility, not the page), and the text match when
    there is a `q`: one definition for the lists and for the counts of the queue's views.
    `viewer` is the caller's id, or the `viewer_id` parameter of a statement built once."""
    found = None
    if filters.q:
        staff = staff_clause(role, viewer) if role.is_staff else None
        found = search.match(search.parse(filters.q), staff)
    where: list[Any] = [found.where] if found is not None else []
    if filters.guid_ticket is not None:
        where.append(Ticket.id == filters.guid_ticket)
    if filters.author is not None:
        where.append(Ticket.author_id == _user_id(filters.author).scalar_subquery())
    if filters.assignee == "me":
        where.append(Ticket.assignee_id == viewer)
    elif filters.assignee == "none":
        where.append(Ticket.assignee_id.is_(None))
    elif filters.assignee is not None:
        where.append(Ticket.assignee_id == _user_id(filters.assignee).scalar_subquery())
    if filters.follower == "me":
        where.append(following(viewer))
    if filters.status is not None:
        # Written into the statement (quoted by SQLAlchemy), like _ACTIVE: a generic plan
        # of `status = $1` cannot tell a rare status from a common one, and read the whole
        # table for the queue's "waiting" count.
        where.append(Ticket.status == literal(filters.status, literal_execute=True))
    if filters.priority is not None:
        where.append(Ticket.priority == filters.priority)
    if filters.service is not None:
        service_id = select(Service.id).where(Service.slug == filters.service).scalar_subquery()
        where.append(Ticket.service_id == service_id)
    if filters.created_after is not None:
        where.append(Ticket.created_at >= filters.created_after)
    if filters.created_before is not None:
        where.append(Ticket.created_at < filters.created_before)
    if filters.team == "me":
        # `= ANY (array(teams))`, computed once per statement, not `IN (teams)`: PostgreSQL
        # plans a semi-join as a nested loop whose inner scan (each team's tickets) it
        # costs in full whatever LIMIT is above, so the queue's capped "my services" count
        # read a bitmap of all 20,000 active tickets of a big service to count 1,000. As an
        # index condition of one scan under the LIMIT, the scan stops at the cap.
        where.append(Ticket.service_id == any_(func.array(_teams_of(viewer).scalar_subquery())))
    if filters.active:
        where.append(Ticket.status.in_(_ACTIVE))
    if filters.sla is not None:
        where.append(SLA_FILTERS[filters.sla]())
    return where, found


async def list_visible(
    session: AsyncSession, user: User, filters: TicketFilters
) -> tuple[Sequence[Any], bool]:
    """In the filters' sort (newest first by number unless told); one row more than asked
    tells whether a next page exists. Each row ends with its sort key (`sort_key_0`...).

    Rows (named tuples), not entities: a page is read-only, and building 50 tickets with
    their people as ORM objects cost more than the query itself. Run on the driver
    (kit/driver_sql.py), compiled once per shape of filters."""
    statement = _page_statement(user.role_enum, filters)
    page, values = driver_sql.by_shape(statement, {"viewer_id": user.id})
    rows = await page.fetch_all(session, values)
    return rows[: filters.limit], len(rows) > filters.limit


# Built statements, by role and filters, with the caller as the `viewer_id` parameter:
# building a list's or the queue counts' statement (the visibility rule, the filters, the
# SLA clauses) cost more CPU than PostgreSQL spent running it. The same page asked again
# (every agent's first queue page, a reload, htmx) reuses it; SQLAlchemy's compiled cache
# then finds it by identity.
STATEMENT_CACHE = 512


@functools.lru_cache(maxsize=STATEMENT_CACHE)
def _page_statement(role: Role, filters: TicketFilters) -> Select[Any]:
    where, found = _conditions(role, _VIEWER, filters)
    order = SORTS[filters.sort]
    if order.window is None:
        stmt = _visible(_VIEW_COLUMNS, role, _VIEWER).where(*where)
    else:
        # Only the newest `window` matches are ordered: the cost stays that of reading
        # them, not of ranking every ticket a common word matches.
        newest = _visible(select(Ticket.id), role, _VIEWER).where(*where)
        newest = newest.order_by(_newest(found).desc()).limit(order.window)
        stmt = _VIEW_COLUMNS.where(Ticket.id.in_(newest))
    keys = order.keys(found)
    if filters.after is not None:
        stmt = stmt.where(_after(keys, filters.after))
    return (
        stmt.add_columns(*(k.column.label(f"sort_key_{i}") for i, k in enumerate(keys)))
        .order_by(*(k.order() for k in keys))
        .limit(_literal(filters.limit + 1))
    )


# A queue's count stops here ("1000+"): counting every ticket of a big service on each
# page view would read them all; a capped count reads at most this many index entries.
COUNT_CAP = 1000


async def count_visible(
    session: AsyncSession, user: User, views: Mapping[str, TicketFilters]
) -> dict[str, int]:
    """How many visible tickets each of `views` lists, up to COUNT_CAP, in ONE statement:
    a capped count per view (`SELECT count(*) FROM (… LIMIT COUNT_CAP)`); paging fields
    are ignored."""
    if not views:
        return {}
    # Without their paging fields, the queue's views are the same for every page of it.
    key = tuple((name, replace(f, limit=0, sort="newest", after=None)) for name, f in views.items())
    statement, values = driver_sql.by_shape(
        _counts_statement(user.role_enum, key), {"viewer_id": user.id}
    )
    counted = await statement.fetch_mapping(session, values)
    assert counted is not None  # noqa: S101 - a SELECT of counts has its row
    return {name: int(counted[name]) for name in views}


@functools.lru_cache(maxsize=STATEMENT_CACHE)
def _counts_statement(role: Role, views: tuple[tuple[str, TicketFilters], ...]) -> Select[Any]:
    columns = []
    for name, filters in views:
        where, _ = _conditions(role, _VIEWER, filters)
        capped = _visible(select(Ticket.id), role, _VIEWER).where(*where).limit(_literal(COUNT_CAP))
        count = select(func.count()).select_from(capped.subquery()).scalar_subquery()
        columns.append(count.label(name))
    return select(*columns)


_actor = aliased(User)
# Built once, like `_view`: building it cost a tenth of a ticket page.
_EVENTS = (
    select(TicketEvent, _actor.discord_id)
    .outerjoin(_actor, TicketEvent.actor_id == _actor.id)
    .order_by(TicketEvent.id)
)


def sort_key(row: Any, sort: str) -> tuple[KeyPart, ...]:
    """The sort key of a row `list_visible` returned: what the next page's cursor carries."""
    return tuple(getattr(row, f"sort_key_{i}") for i in range(len(SORTS[sort].kinds)))


async def events_of(
    session: AsyncSession, ticket_id: uuid.UUID, with_staff_only: bool
) -> list[tuple[TicketEvent, str | None]]:
    stmt = _EVENTS.where(TicketEvent.ticket_id == ticket_id)
    if not with_staff_only:
        stmt = stmt.where(TicketEvent.kind.not_in(STAFF_ONLY_KINDS))
    return [(event, discord_id) for event, discord_id in (await session.execute(stmt)).all()]


async def active_service(session: AsyncSession, slug: str) -> Offer | None:
    """The active service by slug and the priorities its SLA covers: from this process's
    catalog cache when it has them."""
    cache = cache_of(session)
    if cache is not None and (offer := cache.lookup(session, slug)) is not None:
        return offer
    read_at = cache.clock() if cache is not None else 0.0
    row = (await session.execute(_ACTIVE_SERVICE, {"slug": slug})).one_or_none()
    if row is None:
        return None
    found = Offer(row[0], frozenset(row[1] or ()))
    if cache is not None:
        cache.remember(found, read_at)
    return found


_ACTIVE_SERVICE = select(
    Service,
    select(func.array_agg(SlaPolicy.priority))
    .where(SlaPolicy.service_id == Service.id, SlaPolicy.active.is_(True))
    .scalar_subquery(),
).where(Service.slug == bindparam("slug"), Service.is_active.is_(True))
