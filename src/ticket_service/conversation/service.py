"""Rules of the conversation on a ticket: who may reply, who may write and read internal
notes, editing, and what a reply does to the ticket. Services flush; the request commits.

Decisions (README "Conversation"):
- A public reply locks the ticket row (before reading it) and updates it: `public_comments + 1`,
  `version + 1`, `updated_at` = now (the ticket's last activity), and, when the author
  answers a `waiting` ticket, the move back to `processing`, all in one UPDATE. Its history
  is then `status_changed` (reason `author_replied`) followed by `commented`.
- An internal note leaves the ticket row alone: a version or `updated_at` that moved would
  tell the author that something they cannot see happened.
- Comments can be added to closed tickets too; nothing reopens them (the author reopens
  explicitly, see the workflow).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ticket_service.conversation import repository
from ticket_service.conversation.models import Comment
from ticket_service.conversation.schemas import CommentBody, CommentView, PersonRef
from ticket_service.errors import AppError, Conflict, Forbidden, NotFound, Unprocessable
from ticket_service.events.record import record_event
from ticket_service.events.registry import Kind
from ticket_service.kit.preconditions import Condition, check_if_match, comment_etag
from ticket_service.sla import service as sla
from ticket_service.tickets import service as tickets
from ticket_service.tickets.models import Ticket
from ticket_service.users.models import User, display_name
from ticket_service.vocabulary import Status

EDIT_WINDOW = timedelta(minutes=10)
PAGE_MAX = 200
_BODY: TypeAdapter[str] = TypeAdapter(CommentBody)


class CommentNotFound(NotFound):
    code = "comment_not_found"
    message = "No such comment on this ticket, or it is not visible to you"


class NotesStaffOnly(Forbidden):
    code = "notes_staff_only"
    message = "Only the ticket's staff may write internal notes"


class NotYourComment(Forbidden):
    code = "not_your_comment"
    message = "Only its author may edit a comment"


class EditWindowClosed(Conflict):
    code = "edit_window_closed"
    message = "A comment can be edited only within 10 minutes of writing it"


def _clean_body(body: str) -> str:
    """The same rule for every front door (REST validates it already; the web UI and
    Discord pass what people typed)."""
    try:
        return _BODY.validate_python(body)
    except ValidationError as exc:
        raise Unprocessable(
            "Invalid comment body",
            details=[{"loc": ["body"], "msg": e["msg"], "type": e["type"]} for e in exc.errors()],
        ) from None


def comment_tag(comment: Comment) -> str:
    """The comment's entity tag: its id and when it was last written."""
    return comment_etag(comment.id, comment.edited_at or comment.created_at)


def comment_view(comment: Comment) -> CommentView:
    """Render a comment loaded with its author."""
    return CommentView(
        etag=comment_tag(comment),
        id=comment.id,
        author=PersonRef(discord_id=comment.author.discord_id, name=display_name(comment.author)),
        body=comment.body,
        internal=comment.internal,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )


def edit_refusal(comment: CommentView, user: User, now: datetime) -> AppError | None:
    """Why `edit_comment` would refuse `user` an edit of `comment` at `now`, or None: for
    front doors offering the edit form (the edit itself checks on the database clock)."""
    if comment.author.discord_id != user.discord_id:
        return NotYourComment()
    if now >= comment.created_at + EDIT_WINDOW:
        return EditWindowClosed(details={"window_minutes": int(EDIT_WINDOW.total_seconds() // 60)})
    return None


def may_edit(comment: CommentView, user: User, now: datetime) -> bool:
    return edit_refusal(comment, user, now) is None


async def add_comment(
    session: AsyncSession,
    user: User,
    guid_ticket: uuid.UUID,
    body: str,
    internal: bool,
    guid_action: uuid.UUID | None,
) -> CommentView:
    """A public reply (the ticket's author or staff) or an internal note (staff only).
    The author's reply to a `waiting` ticket moves it back to `processing`."""
    body = _clean_body(body)
    if not internal:
        await repository.lock_ticket(session, guid_ticket)
    ticket, staff = await tickets.get_ticket_as(session, user, guid_ticket)
    is_author = ticket.author_id == user.id
    # Who may see a ticket is its author or its staff (tickets.repository.visible_to), so
    # whoever got this far may reply; a note needs staff.
    if internal and not staff:
        raise NotesStaffOnly()
    comment = Comment(ticket_id=ticket.id, author_id=user.id, body=body, internal=internal)
    await repository.add(session, comment)
    set_committed_value(comment, "author", user)
    data = {"comment_id": comment.id}
    if internal:
        await record_event(session, ticket, Kind.noted, user, guid_action=guid_action, data=data)
        return comment_view(comment)
    # Written by the next flush: the status change's when there is one, else the event's.
    # A plain increment is safe: the row was read after it was locked.
    ticket.public_comments += 1
    if staff and not is_author:  # the first public staff reply is the SLA's first response
        await sla.on_staff_reply(session, ticket)
    if is_author and ticket.status == Status.waiting:
        await tickets.move(
            session, ticket, Status.processing, user, guid_action, reason="author_replied"
        )
    await record_event(session, ticket, Kind.commented, user, guid_action=guid_action, data=data)
    return comment_view(comment)


async def list_comments(
    session: AsyncSession,
    user: User,
    guid_ticket: uuid.UUID,
    limit: int = 50,
    after_id: int | None = None,
) -> tuple[list[CommentView], int | None]:
    """The ticket's comments, oldest first; internal notes only for its staff. The second
    item is the last id when there is a next page (pass it as `after_id`)."""
    _check_limit(limit)
    ticket, staff = await tickets.get_ticket_as(session, user, guid_ticket)
    return await comments_of(session, ticket, staff, limit, after_id)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= PAGE_MAX:
        raise Unprocessable(f"limit must be 1..{PAGE_MAX}", details={"limit": limit})


async def comments_of(
    session: AsyncSession,
    ticket: Ticket,
    staff: bool,
    limit: int = PAGE_MAX,
    after_id: int | None = None,
) -> tuple[list[CommentView], int | None]:
    """`list_comments` of a ticket the caller already read (`get_ticket_as`) for a person whose
    `staff_on` it is `staff` (internal notes only then): a page showing several parts asks
    those once."""
    _check_limit(limit)
    comments, more = await repository.page(session, ticket.id, staff, limit, after_id)
    views = [comment_view(c) for c in comments]
    return views, (views[-1].id if more and views else None)


async def edit_comment(
    session: AsyncSession,
    user: User,
    guid_ticket: uuid.UUID,
    comment_id: int,
    body: str,
    guid_action: uuid.UUID | None,
    *,
    if_match: Condition | None = None,
) -> CommentView:
    """Its author changes a comment within EDIT_WINDOW; the previous text stays in the
    history (`comment_edited`, staff only). `if_match`: the caller's `If-Match` against
    the comment's own tag (`CommentView.etag`): 412 when it was edited since."""
    body = _clean_body(body)
    ticket, staff = await tickets.get_ticket_as(session, user, guid_ticket)
    found = await repository.locked_for_edit(session, ticket.id, comment_id, EDIT_WINDOW)
    if found is None or (found[0].internal and not staff):
        raise CommentNotFound()
    comment, editable, now = found
    if comment.author_id != user.id:
        raise NotYourComment()
    check_if_match(if_match, comment_tag(comment))
    if not editable:
        raise EditWindowClosed(details={"window_minutes": int(EDIT_WINDOW.total_seconds() // 60)})
    if body == comment.body:
        return comment_view(comment)  # nothing to change, nothing to record
    previous = comment.body
    comment.body = body
    comment.edited_at = now
    await record_event(
        session,
        ticket,
        Kind.comment_edited,
        user,
        guid_action=guid_action,
        data={"comment_id": comment.id, "previous": previous},
    )
    return comment_view(comment)
