"""Working a ticket from its page: the conversation (replies, internal notes, edits) and
the agents' actions (claim, assign, follow).

Thin: each form is one call into conversation.service or assignment.service, the same
functions the API calls; a refused one is their error (a 403/404/409 page).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from ticket_service.assignment import service as assignment
from ticket_service.conversation import service as conversation
from ticket_service.conversation.schemas import CommentView
from ticket_service.db import Session
from ticket_service.errors import Unprocessable
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.tickets import service as tickets
from ticket_service.tickets.models import Ticket
from ticket_service.web.pages import Form, Page, UserPage, signed_user
from ticket_service.web.ticket_routes import conversation_context, seen_ticket, ticket_context

router = APIRouter(include_in_schema=False)

CommentId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _body_error(exc: Unprocessable) -> str:
    """conversation.service's refusal of a body, as the code `field_error` says."""
    details = exc.details if isinstance(exc.details, list) else []
    kinds = {str(d.get("type", "")) for d in details if isinstance(d, dict)}
    return "too_long" if "string_too_long" in kinds else "required"


@router.get("/tickets/{guid}/conversation")
async def conversation_part(current: UserPage, session: Session, guid: uuid.UUID) -> Response:
    """The messages of a ticket page, for htmx polling: new replies appear without a reload."""
    ticket, staff = await seen_ticket(current, session, guid)
    context = await conversation_context(current, session, ticket, staff)
    return current.render("_comments.html", ticket=ticket, **context)


async def _ticket_of(current: Page, session: Session, guid: uuid.UUID) -> Ticket:
    return await tickets.get_ticket(session, signed_user(current), guid)


@router.post("/tickets/{guid}/comments")
async def add_comment(
    action: Annotated[ActionRecord, Depends(Action("add_comment"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    """ "Ответить" (a public reply) or, with `internal=1`, "Внутренняя заметка"."""
    action.guid_ticket = guid
    internal = fields.get("internal") == "1"
    action.set_params({"internal": internal})
    body = fields.get("body", "")
    try:
        comment = await conversation.add_comment(
            session, signed_user(current), guid, body, internal, action.guid_action
        )
    except Unprocessable as exc:
        context = await ticket_context(current, session, guid)
        context.update(errors={"body": _body_error(exc)}, values={"body": body})
        return current.render("ticket.html", status_code=422, **context)
    return current.redirect(f"/tickets/{guid}#comment-{comment.id}")


async def _own_comment(
    current: Page, session: Session, guid: uuid.UUID, comment_id: int
) -> tuple[Ticket, CommentView]:
    ticket, staff = await seen_ticket(current, session, guid)
    context = await conversation_context(current, session, ticket, staff)
    comments: list[CommentView] = context["comments"]
    for comment in comments:
        if comment.id == comment_id:
            return ticket, comment
    raise conversation.CommentNotFound()


@router.get("/tickets/{guid}/comments/{comment_id}/edit")
async def edit_comment_form(
    current: UserPage, session: Session, guid: uuid.UUID, comment_id: CommentId
) -> Response:
    """The edit form of one's own message (the service refuses others' and late edits)."""
    ticket, comment = await _own_comment(current, session, guid, comment_id)
    refusal = conversation.edit_refusal(comment, signed_user(current), datetime.now(UTC))
    if refusal is not None:
        raise refusal
    return current.render(
        "comment_edit.html",
        ticket=ticket,
        comment=comment,
        values={"body": comment.body},
        errors={},
    )


@router.post("/tickets/{guid}/comments/{comment_id}")
async def edit_comment(
    action: Annotated[ActionRecord, Depends(Action("edit_comment"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
    comment_id: CommentId,
) -> Response:
    action.guid_ticket = guid
    action.set_params({"comment_id": comment_id})
    body = fields.get("body", "")
    try:
        await conversation.edit_comment(
            session, signed_user(current), guid, comment_id, body, action.guid_action
        )
    except Unprocessable as exc:
        ticket, comment = await _own_comment(current, session, guid, comment_id)
        errors = {"body": _body_error(exc)}
        return current.render(
            "comment_edit.html",
            status_code=422,
            ticket=ticket,
            comment=comment,
            values={"body": body},
            errors=errors,
        )
    return current.redirect(f"/tickets/{guid}#comment-{comment_id}")


@router.post("/tickets/{guid}/claim")
async def claim(
    action: Annotated[ActionRecord, Depends(Action("claim_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    """ "Взять": a member of the service's team takes the ticket."""
    action.guid_ticket = guid
    await assignment.claim(session, signed_user(current), guid, action.guid_action)
    return current.redirect(f"/tickets/{guid}")


@router.post("/tickets/{guid}/assign")
async def assign(
    action: Annotated[ActionRecord, Depends(Action("assign_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    """Hand the ticket to a member of the team (its Discord id), or to nobody (empty)."""
    action.guid_ticket = guid
    assignee = fields.get("assignee", "").strip() or None
    action.set_params({"assignee": assignee})
    await assignment.assign_to(session, signed_user(current), guid, assignee, action.guid_action)
    return current.redirect(f"/tickets/{guid}")


@router.post("/tickets/{guid}/follow")
async def follow(
    action: Annotated[ActionRecord, Depends(Action("follow_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    action.guid_ticket = guid
    await assignment.follow(session, signed_user(current), guid)
    return current.redirect(f"/tickets/{guid}")


@router.post("/tickets/{guid}/unfollow")
async def unfollow(
    action: Annotated[ActionRecord, Depends(Action("unfollow_ticket"))],
    fields: Form,
    current: UserPage,
    session: Session,
    guid: uuid.UUID,
) -> Response:
    action.guid_ticket = guid
    await assignment.unfollow(session, signed_user(current), guid)
    after = "/queue" if current.staff else "/tickets"
    # Following may have been this agent's only way in: back to the ticket only if it is
    # still visible to them.
    try:
        await _ticket_of(current, session, guid)
    except tickets.TicketNotFound:
        return current.redirect(after)
    return current.redirect(f"/tickets/{guid}")
