"""Rules about tickets. Services flush; the request's session commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from ticket_service.assignment import service as assignment
from ticket_service.catalog.models import DEFAULT_SERVICE_SLUG
from ticket_service.errors import BadRequest, Conflict, NotFound
from ticket_service.events.record import publish, record_event, stage_event
from ticket_service.events.registry import Kind
from ticket_service.kit.pagination import KeyPart
from ticket_service.kit.preconditions import Condition, check_if_match, ticket_etag
from ticket_service.sla import service as sla
from ticket_service.tickets import repository
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.tickets.repository import TicketFilters
from ticket_service.tickets.schemas import TicketCreate, TicketOut, ticket_rows_out
from ticket_service.tickets.workflow import Status, check_transition, parse_status
from ticket_service.users.models import User

TITLE_MAX = 200


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    message = "No such ticket, or it is not visible to you"


class UnknownService(BadRequest):
    code = "unknown_service"


def title_from_text(text: str) -> str:
    first_line = text.strip().splitlines()[0].strip()
    if len(first_line) <= TITLE_MAX:
        return first_line
    return first_line[: TITLE_MAX - 1].rstrip() + "…"


async def open_ticket(
    session: AsyncSession,
    author: User,
    data: TicketCreate,
    guid_action: uuid.UUID,
    *,
    source_url: str | None = None,
    last: bool = False,
) -> Ticket:
    """Open a ticket; `source_url`: the message it was made from (Discord's context menu).
    `last`: the caller writes nothing after it (events.record.publish)."""
    slug = data.service or DEFAULT_SERVICE_SLUG
    offer = await repository.active_service(session, slug)
    if offer is None:
        raise UnknownService(f"There is no active service {slug!r}", details={"service": slug})
    service = offer.service
    ticket = Ticket(
        id=uuid.uuid4(),
        title=data.title or title_from_text(data.text),
        text=data.text,
        status=Status.open.value,
        priority=data.priority,
        service_id=service.id,
        author_id=author.id,
        source_url=source_url,
    )
    # The relationships are known already: no SELECT to load them back after the INSERT.
    set_committed_value(ticket, "service", service)
    set_committed_value(ticket, "author", author)
    set_committed_value(ticket, "assignee", None)
    set_committed_value(ticket, "rating", None)
    session.add(ticket)
    if ticket.priority in offer.sla_priorities:
        await sla.on_open(session, ticket)  # its policy and due dates, written with the INSERT
    # Automatic assignment (per the service's mode) picks under the service's lock; an
    # unassigned ticket's `opened` event tells the team channel nobody was available.
    assignee, unassigned_reason = await assignment.pick_on_open(session, service)
    opened: dict[str, object] = {
        "title": ticket.title,
        "priority": ticket.priority,
        "service": slug,
    }
    if unassigned_reason:
        opened["unassigned_reason"] = unassigned_reason
    # One flush INSERTs the ticket and its event, RETURNING number and timestamps.
    await record_event(
        session,
        ticket,
        Kind.opened,
        author,
        guid_action=guid_action,
        to_status=Status.open.value,
        data=opened,
        last=last and assignee is None,
    )
    if assignee is not None:
        await assignment.assign_on_open(session, ticket, assignee, guid_action)
    return ticket


async def get_ticket(session: AsyncSession, user: User, guid: uuid.UUID) -> Ticket:
    ticket = await repository.get_visible(session, user, guid)
    if ticket is None:
        raise TicketNotFound()
    return ticket


async def get_ticket_as(session: AsyncSession, user: User, guid: uuid.UUID) -> tuple[Ticket, bool]:
    """The visible ticket and whether `user` is its staff (`tickets.access.staff_on`),
    read in one statement."""
    found = await repository.get_visible_as(session, user, guid)
    if found is None:
        raise TicketNotFound()
    return found


async def view_ticket(session: AsyncSession, user: User, guid: uuid.UUID) -> TicketOut:
    """A ticket to show, read as one row: cheaper than loading the entity and its people."""
    row = await repository.view_visible(session, user, guid)
    if row is None:
        raise TicketNotFound()
    return ticket_rows_out([row])[0]


async def change_status(
    session: AsyncSession,
    actor: User,
    guid: uuid.UUID,
    new_status: str,
    guid_action: uuid.UUID,
    expected_version: int | None = None,
    *,
    reason: str | None = None,
    if_match: Condition | None = None,
    last: bool = False,
) -> Ticket:
    """The one way a status changes: workflow + rights, ticket, history row, one transaction.
    `reason`: why, in the person's words (kept in the event, e.g. a close without success).
    `if_match`: the caller's `If-Match`; a stale tag is 412 before anything else is judged.
    `last`: the caller writes nothing after it (events.record.publish)."""
    new = parse_status(new_status)
    ticket, staff = await get_ticket_as(session, actor, guid)
    check_if_match(if_match, ticket_etag(ticket.version))
    if expected_version is not None and expected_version != ticket.version:
        raise Conflict(
            "The ticket changed since you read it; reload and try again",
            code="version_conflict",
            details={"current_version": ticket.version},
        )
    current = Status(ticket.status)
    check_transition(current, new, staff, is_author=ticket.author_id == actor.id)
    # Taking a ticket into work makes you its assignee.
    takes_it = new is Status.processing and ticket.assignee_id is None and staff
    await move(
        session,
        ticket,
        new,
        actor,
        guid_action,
        reason=reason,
        assignee=actor if takes_it else None,
        last=last,
    )
    return ticket


async def move(
    session: AsyncSession,
    ticket: Ticket,
    new: Status,
    actor: User | None,
    guid_action: uuid.UUID | None = None,
    *,
    reason: str | None = None,
    assignee: User | None = None,
    last: bool = False,
) -> None:
    """Write a status change the caller has already allowed, and its event; with
    `assignee`, hand the ticket over in the same UPDATE. `reason` says why when the service
    moved it by itself (the author's reply ending `waiting`). `last`: the caller writes
    nothing after it (events.record.publish)."""
    current = ticket.status
    ticket.status = new.value
    ticket.closed_at = datetime.now(UTC) if new.is_closed else None
    await sla.on_move(session, ticket, current, new)  # the SLA clocks, in the same UPDATE
    try:
        # Taking it and moving it: both events in one flush with the ticket's UPDATE.
        staged = (
            [assignment.hand_over(session, ticket, assignee, actor, guid_action)]
            if assignee
            else []
        )
        staged.append(
            stage_event(
                session,
                ticket,
                Kind.status_changed,
                actor,
                guid_action=guid_action,
                from_status=current,
                to_status=new.value,
                data={"reason": reason} if reason else None,
            )
        )
        await publish(session, ticket, staged, last=last)
    except StaleDataError as exc:  # somebody else changed it between our read and write
        raise Conflict(
            "The ticket was changed concurrently; reload and try again", code="version_conflict"
        ) from exc


async def history(
    session: AsyncSession, user: User, guid: uuid.UUID
) -> list[tuple[TicketEvent, str | None]]:
    """The ticket's events (with the actor's Discord id), oldest first; the staff-only ones
    (internal notes, edits) only for the ticket's staff."""
    ticket, staff = await get_ticket_as(session, user, guid)
    return await history_of(session, ticket, staff)


async def history_of(
    session: AsyncSession, ticket: Ticket, staff: bool
) -> list[tuple[TicketEvent, str | None]]:
    """`history` of a ticket the caller already read (`get_ticket_as`) for a person whose
    `staff_on` it is `staff`: a page showing several parts asks those once."""
    return await repository.events_of(session, ticket.id, with_staff_only=staff)


class SortNeedsQuery(BadRequest):
    code = "sort_needs_q"
    message = "This sort orders the matches of a text search: give `q` too"


async def list_tickets(
    session: AsyncSession, user: User, filters: TicketFilters
) -> tuple[list[TicketOut], tuple[KeyPart, ...] | None]:
    """A page of the tickets visible to `user`, and the sort key of its last row when
    another page follows (`kit.pagination.encode_keyset(filters.sort, key)`)."""
    if filters.status is not None:
        parse_status(filters.status)
    if repository.SORTS[filters.sort].needs_q and not filters.q:
        raise SortNeedsQuery(details={"sort": filters.sort})
    rows, more = await repository.list_visible(session, user, filters)
    tickets = ticket_rows_out(rows)
    return tickets, (repository.sort_key(rows[-1], filters.sort) if more and rows else None)


async def count_tickets(
    session: AsyncSession, user: User, views: Mapping[str, TicketFilters]
) -> dict[str, int]:
    """How many visible tickets each named set of filters lists (the queue's counts), in
    one query."""
    for filters in views.values():
        if filters.status is not None:
            parse_status(filters.status)
    return await repository.count_visible(session, user, views)
