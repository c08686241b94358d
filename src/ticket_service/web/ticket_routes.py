"""Employee and agent pages: my tickets, a new ticket, a ticket, the agents' queue.

Thin: every read and change is a call into the domain services (tickets.service,
tickets.workflow, tickets.access), the same ones the API calls.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import ValidationError

from ticket_service.catalog import repository as catalog
from ticket_service.db import Session
from ticket_service.kit.pagination import KeyPart
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.tickets import service
from ticket_service.tickets.access import staff_on
from ticket_service.tickets.repository import TicketFilters
from ticket_service.tickets.schemas import TicketCreate
from ticket_service.tickets.workflow import allowed_moves
from ticket_service.vocabulary import Priority, Status
from ticket_service.web.errors import field_errors
from ticket_service.web.pages import AnyPage, Form, Page, StaffPage, UserPage, signed_user

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
# The agents' queue: one view = one set of filters of the same list the API serves.
QUEUE_VIEWS = ("open", "mine", "processing", "waiting", "all")

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
        ticket = await service.open_ticket(session, signed_user(current), data, action.guid_action)
    except service.UnknownService:
        errors = {"service": "unknown_service"}
        return await _new_ticket_form(current, session, values, errors, 422)
    action.guid_ticket = ticket.id
    return current.redirect(f"/tickets/{ticket.id}")


async def _ticket_context(current: Page, session: Session, guid: uuid.UUID) -> dict[str, Any]:
    user = signed_user(current)
    ticket = await service.get_ticket(session, user, guid)
    staff = await staff_on(session, user, ticket)
    moves = allowed_moves(Status(ticket.status), staff, is_author=ticket.author_id == user.id)
    history = await service.history(session, user, guid)
    return {"ticket": ticket, "staff": staff, "moves": moves, "history": history}


@router.get("/tickets/{guid}")
async def ticket_page(current: UserPage, session: Session, guid: uuid.UUID) -> Response:
    """A ticket: its fields, the buttons of the moves the workflow allows this person, the
    history; the activity part reloads itself (htmx) so others' changes appear."""
    context = await _ticket_context(current, session, guid)
    return current.render("ticket.html", **context)


@router.get("/tickets/{guid}/activity")
async def ticket_activity(current: UserPage, session: Session, guid: uuid.UUID) -> Response:
    """The part of the ticket page that changes (status, moves, history), for htmx polling."""
    context = await _ticket_context(current, session, guid)
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
        session, signed_user(current), guid, fields.get("status", ""), action.guid_action, expected
    )
    return current.redirect(f"/tickets/{guid}")


@router.get("/queue")
async def queue(
    current: StaffPage,
    session: Session,
    view: Annotated[str, Query(pattern="^(" + "|".join(QUEUE_VIEWS) + ")$")] = "open",
    service_slug: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    q: Search = None,
    before: Before = None,
) -> Response:
    """The agents' queue: a view (new, mine, in progress, waiting, all) and a service."""
    user = signed_user(current)
    status = {"open": Status.open, "processing": Status.processing, "waiting": Status.waiting}
    filters = TicketFilters(
        status=status[view].value if view in status else None,
        assignee=user.discord_id if view == "mine" else None,
        service=_blank(service_slug),
        q=_blank(q),
        limit=PAGE_SIZE,
        after=(before,) if before else None,
    )
    tickets, last = await service.list_tickets(session, user, filters)
    services = await catalog.all_services(session, include_inactive=True)
    return current.render(
        "queue.html",
        tickets=tickets,
        views=QUEUE_VIEWS,
        view=view,
        services=services,
        service=service_slug or "",
        q=q or "",
        next_before=_number(last),
    )
