"""Employee and agent pages: my tickets, a new ticket, a ticket, the agents' queue.

Thin: every read and change is a call into the domain services (tickets.service,
tickets.workflow, tickets.access), the same ones the API calls.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import ValidationError

from ticket_service.assignment import service as assignment
from ticket_service.catalog import repository as catalog
from ticket_service.conversation import service as conversation
from ticket_service.conversation.schemas import CommentView
from ticket_service.db import Session
from ticket_service.errors import Unprocessable
from ticket_service.kit.pagination import KeyPart, decode_keyset, encode_keyset
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.ratings import service as ratings
from ticket_service.sla import service as sla
from ticket_service.tickets import service
from ticket_service.tickets.models import Ticket
from ticket_service.tickets.repository import COUNT_CAP, SORTS, TicketFilters
from ticket_service.tickets.schemas import TicketCreate
from ticket_service.tickets.workflow import allowed_moves
from ticket_service.vocabulary import Priority, Status
from ticket_service.web.errors import field_errors
from ticket_service.web.pages import AnyPage, Form, Page, StaffPage, UserPage, signed_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25

StatusQuery = Annotated[Status | None, Query()]
Search = Annotated[str | None, Query(max_length=200)]
Before = Annotated[int | None, Query(ge=1, le=2**31)]


@router.get("/")
async def home(current: AnyPage) -> Response:
    if current.user is None:
        return current.redirect("/login")
    return current.redirect("/queue" if current.staff else "/tickets")


def _number(key: tuple[KeyPart, ...] | None) -> KeyPart | None:
    # Pages here are newest first: their key is the ticket number alone.
    return key[0] if key else None


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/tickets")
async def my_tickets(
    current: UserPage,
    session: Session,
    q: Search = None,
    status: StatusQuery = None,
    before: Before = None,
) -> Response:
    """Мои заявки: the tickets I opened, newest first, with search and a status filter."""
    user = signed_user(current)
    filters = TicketFilters(
        author=user.discord_id,
        status=status.value if status else None,
        q=_blank(q),
        limit=PAGE_SIZE,
        after=(before,) if before else None,
    )
    tickets, last = await service.list_tickets(session, user, filters)
    return current.render(
        "tickets.html", tickets=tickets, q=q or "", status=status, next_before=_number(last)
    )


async def _new_ticket_form(
    current: Page, session: Session, values: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    services = await catalog.all_services(session, include_inactive=False)
    return current.render(
        "ticket_new.html", services=services, values=values, errors=errors, status_code=status
    )


@router.get("/tickets/new")
async def new_ticket(current: UserPage, session: Session, service: str | None = None) -> Response:
    values = {"service": service or "", "priority": Priority.normal.value}
    return await _new_ticket_form(current, session, values, {}, 200)


@router.post("/tickets/new")
async def create_ticket(
    action: Annotated[ActionRecord, Depends(Action("open_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
) -> Response:
    values = {k: fields.get(k, "") for k in ("service", "priority", "title", "text")}
    try:
        data = TicketCreate(
            text=values["text"],
            title=values["title"] or None,
            service=values["service"] or None,
            priority=values["priority"] or Priority.normal.value,
        )
    except ValidationError as exc:
        return await _new_ticket_form(current, session, values, field_errors(exc), 422)
    action.set_params(data.model_dump(exclude={"text"}, exclude_none=True))
    try:
        ticket = await service.open_ticket(
            session, signed_user(current), data, action.guid_action, last=True
        )
    except service.UnknownService:
        errors = {"service": "unknown_service"}
        return await _new_ticket_form(current, session, values, errors, 422)
    action.guid_ticket = ticket.id
    return current.redirect(f"/tickets/{ticket.id}")


COMMENT_PAGES = 5  # a page is conversation.service.PAGE_MAX comments


async def conversation_context(
    current: Page, session: Session, ticket: Ticket, staff: bool
) -> dict[str, Any]:
    """The conversation as this person may read it (internal notes only for staff), and
    which of the messages they may still edit."""
    user = signed_user(current)
    comments: list[CommentView] = []
    after: int | None = None
    for _ in range(COMMENT_PAGES):
        page_of, after = await conversation.comments_of(
            session, ticket, staff, conversation.PAGE_MAX, after
        )
        comments.extend(page_of)
        if after is None:
            break
    now = datetime.now(UTC)
    editable = {c.id for c in comments if conversation.may_edit(c, user, now)}
    return {"comments": comments, "comments_cut": after is not None, "editable": editable}


async def seen_ticket(current: Page, session: Session, guid: uuid.UUID) -> tuple[Ticket, bool]:
    """The ticket as this person may see it (404 otherwise), and whether they are its staff:
    read once per page, then handed to each part."""
    user = signed_user(current)
    return await service.get_ticket_as(session, user, guid)


async def ticket_context(current: Page, session: Session, guid: uuid.UUID) -> dict[str, Any]:
    """Everything the ticket page shows, each part asked of the service that owns it."""
    context = await _activity_context(current, session, guid)
    ticket, user, staff = context["ticket"], signed_user(current), context["staff"]
    context.update(await conversation_context(current, session, ticket, staff))
    context["powers"] = await assignment.powers(session, user, ticket, staff)
    context["team"] = (
        await assignment.team_of_ticket(session, ticket) if context["powers"].assign else []
    )
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return context


async def _activity_context(current: Page, session: Session, guid: uuid.UUID) -> dict[str, Any]:
    user = signed_user(current)
    ticket, staff = await seen_ticket(current, session, guid)
    moves = allowed_moves(Status(ticket.status), staff, is_author=ticket.author_id == user.id)
    history = await service.history_of(session, ticket, staff)
    clock = await sla.sla_of(session, ticket)
    return {"ticket": ticket, "staff": staff, "moves": moves, "history": history, "sla": clock}


@router.get("/tickets/{guid}")
async def ticket_page(current: UserPage, session: Session, guid: uuid.UUID) -> Response:
    """A ticket: its fields, the buttons of the moves the workflow allows this person, the
    history; the activity part reloads itself (htmx) so others' changes appear."""
    context = await ticket_context(current, session, guid)
    return current.render("ticket.html", **context)


@router.get("/tickets/{guid}/activity")
async def ticket_activity(current: UserPage, session: Session, guid: uuid.UUID) -> Response:
    """The part of the ticket page that changes (status, moves, history), for htmx polling."""
    context = await _activity_context(current, session, guid)
    return current.render("_activity.html", **context)


@router.post("/tickets/{guid}/status")
async def change_status(
    action: Annotated[ActionRecord, Depends(Action("change_status"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    action.guid_ticket = guid
    version = fields.get("version", "")
    expected = int(version) if version.isdigit() else None
    action.set_params({"status": fields.get("status", ""), "version": expected})
    await service.change_status(
        session,
        signed_user(current),
        guid,
        fields.get("status", ""),
        action.guid_action,
        expected,
        last=True,
    )
    return current.redirect(f"/tickets/{guid}")


@router.post("/tickets/{guid}/rating")
async def rate(
    action: Annotated[ActionRecord, Depends(Action("rate_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    """The author rates a closed ticket (ratings.service.rate has the rule); a missing or
    bad choice shows the form again with the reason next to it."""
    action.guid_ticket = guid
    score = fields.get("score", "")
    action.set_params({"score": score})
    try:
        await ratings.rate(
            session,
            signed_user(current),
            guid,
            int(score) if score.isdigit() else score,
            fields.get("comment", "").strip() or None,
            action.guid_action,
        )
    except Unprocessable as exc:
        errors = {str(e["loc"][0]): _rating_error(e["type"], score) for e in exc.details}
        context = await ticket_context(current, session, guid)
        return current.render("ticket.html", status_code=422, rating_errors=errors, **context)
    return current.redirect(f"/tickets/{guid}")


def _rating_error(kind: str, score: str) -> str:
    """A field error code of _forms.html's `field_error`."""
    if kind == "string_too_long":
        return "too_long"
    return "choice" if score else "required"


def queue_views(service_slug: str | None, q: str | None) -> dict[str, TicketFilters]:
    """The queue's views, each a set of filters of the list the API serves (its query in a
    comment), narrowed by the chosen service and search text. One table for the lists and
    for their counts. Every view is in `sort=due` order: the soonest resolution due first,
    then the tickets without a running SLA clock (newest number last)."""

    def narrow(**only: Any) -> TicketFilters:
        return TicketFilters(service=service_slug, q=q, limit=PAGE_SIZE, sort="due", **only)

    return {
        # ?team=me&active=true&sort=due
        "my_services": narrow(team="me", active=True),
        # ?assignee=none&active=true&sort=due
        "unassigned": narrow(assignee="none", active=True),
        # ?assignee=me&active=true&sort=due
        "mine": narrow(assignee="me", active=True),
        # ?sla=at_risk&active=true&sort=due
        "at_risk": narrow(sla="at_risk", active=True),
        # ?sla=breached&active=true&sort=due
        "breached": narrow(sla="breached", active=True),
        # ?status=waiting&sort=due
        "waiting": narrow(status=Status.waiting.value),
        # ?sort=due: everything visible, closed ones too
        "all": narrow(),
    }


QUEUE_VIEWS = tuple(queue_views(None, None))
ViewQuery = Annotated[str, Query(pattern="^(" + "|".join(QUEUE_VIEWS) + ")$")]
Cursor = Annotated[str | None, Query(max_length=64)]


# The queue's pages follow the API's `sort=due` cursor (`next_cursor`): these two are all
# the page knows of its encoding.
def _after(cursor: str | None) -> tuple[KeyPart, ...] | None:
    """The queue's position: the API's `sort=due` cursor (a foreign one is a 400 page)."""
    return decode_keyset(cursor, "due", SORTS["due"].kinds) if cursor else None


def _next_cursor(last: tuple[KeyPart, ...] | None) -> str | None:
    return encode_keyset("due", last) if last is not None else None


@router.get("/queue")
async def queue(
    current: StaffPage,
    session: Session,
    view: ViewQuery = "my_services",
    service_slug: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    q: Search = None,
    cursor: Cursor = None,
) -> Response:
    """The agents' queue: a view (my services, unassigned, mine, SLA at risk, SLA
    breached, waiting, all) with the count of each, narrowed by service and search text,
    soonest resolution due first; `cursor` is the API's `next_cursor` of that order."""
    user = signed_user(current)
    views = queue_views(_blank(service_slug), _blank(q))
    filters = replace(views[view], after=_after(cursor))
    tickets, last = await service.list_tickets(session, user, filters)
    counts = await service.count_tickets(session, user, views)
    services = await catalog.all_services(session, include_inactive=True)
    return current.render(
        "queue.html",
        tickets=tickets,
        views=QUEUE_VIEWS,
        counts=counts,
        count_cap=COUNT_CAP,
        view=view,
        services=services,
        service=service_slug or "",
        q=q or "",
        next_cursor=_next_cursor(last),
        show_due=True,
    )
