"""v1 conversation API: replies and internal notes on a ticket."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from ticket_service.auth.dependencies import CurrentUser
from ticket_service.conversation import service
from ticket_service.conversation.schemas import CommentCreate, CommentEdit, CommentPage, CommentView
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.idempotency.dependencies import IDEMPOTENCY_RESPONSES, idempotent
from ticket_service.kit.pagination import decode_cursor, encode_cursor
from ticket_service.kit.preconditions import PRECONDITION_FAILED, IfMatch
from ticket_service.ops.action_log import Action, ActionRecord

router = APIRouter(prefix="/api/v1/tickets/{guid_ticket}/comments", tags=["conversation"])

CommentId = Annotated[int, Path(ge=1, le=2**63 - 1)]
_COMMENT_ETAG = {
    "ETag": {
        "description": "The comment's entity tag (as its `etag` field): `If-Match` of an edit",
        "schema": {"type": "string"},
    }
}


@router.post(
    "",
    status_code=201,
    summary="Reply to a ticket, or write an internal note",
    responses={
        201: {"description": "Written", "headers": _COMMENT_ETAG},
        **responses(400, 401, 403, 404, 413, 422),
        **IDEMPOTENCY_RESPONSES,
    },
)
@idempotent
async def add_comment(
    action: Annotated[ActionRecord, Depends(Action("add_comment"))],
    guid_ticket: uuid.UUID,
    body: CommentCreate,
    user: CurrentUser,
    session: Session,
    response: Response,
) -> CommentView:
    """The ticket's author and its staff reply; only staff write internal notes
    (`"internal": true`), which only staff ever see. The author's reply to a `waiting`
    ticket moves it back to `processing`. 403 `notes_staff_only`. With `Idempotency-Key`:
    a repeat within 24 h answers this response again, one comment."""
    action.guid_ticket = guid_ticket
    action.set_params({"internal": body.internal})
    comment = await service.add_comment(
        session, user, guid_ticket, body.body, body.internal, action.guid_action
    )
    action.set_params({"internal": body.internal, "comment_id": comment.id})
    response.headers["Location"] = f"/api/v1/tickets/{guid_ticket}/comments/{comment.id}"
    response.headers["ETag"] = comment.etag
    return comment


@router.get("", summary="A ticket's conversation", responses=responses(400, 401, 404, 422))
async def list_comments(
    action: Annotated[ActionRecord, Depends(Action("get_comments"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=service.PAGE_MAX)] = 50,
    # No max_length: any cursor we did not hand out is 400 invalid_cursor.
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> CommentPage:
    """Replies (and, for the ticket's staff, internal notes), oldest first; follow
    `next_cursor` for more."""
    action.guid_ticket = guid_ticket
    action.set_params({"limit": limit, **({"cursor": cursor} if cursor else {})})
    after_id = decode_cursor(cursor) if cursor else None
    comments, last = await service.list_comments(session, user, guid_ticket, limit, after_id)
    return CommentPage(
        items=comments, next_cursor=encode_cursor(last) if last is not None else None
    )


@router.patch(
    "/{comment_id}",
    summary="Edit your comment (within 10 minutes)",
    responses={
        200: {"description": "The comment as edited", "headers": _COMMENT_ETAG},
        **responses(400, 401, 403, 404, 409, 413, 422),
        **PRECONDITION_FAILED,
    },
)
async def edit_comment(
    action: Annotated[ActionRecord, Depends(Action("edit_comment"))],
    guid_ticket: uuid.UUID,
    comment_id: CommentId,
    body: CommentEdit,
    user: CurrentUser,
    session: Session,
    response: Response,
    if_match: IfMatch,
) -> CommentView:
    """Its author may change a comment within 10 minutes of writing it (403
    `not_your_comment`, 409 `edit_window_closed`). The comment shows `edited_at`; the
    previous text stays in the history for the ticket's staff (`comment_edited`).
    `If-Match` is compared with the comment's own tag (`etag`, changed by every edit):
    412 `precondition_failed` when somebody's edit came first."""
    action.guid_ticket = guid_ticket
    action.set_params({"comment_id": comment_id})
    comment = await service.edit_comment(
        session, user, guid_ticket, comment_id, body.body, action.guid_action, if_match=if_match
    )
    response.headers["ETag"] = comment.etag
    action.set_params({"comment_id": comment_id, "internal": comment.internal})
    return comment
