"""The rule of satisfaction ratings, for every front door (REST, web UI, Discord DM):
only the ticket's author, only once the ticket is closed, only once. Services flush;
the request's session commits."""

from __future__ import annotations

import uuid

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ticket_service.errors import Conflict, Forbidden, Unprocessable
from ticket_service.events.record import record_event
from ticket_service.events.registry import Kind
from ticket_service.ratings import repository
from ticket_service.ratings.models import TicketRating
from ticket_service.ratings.schemas import RatingCreate, RatingOut
from ticket_service.tickets import service as tickets
from ticket_service.users.models import User
from ticket_service.vocabulary import Status


class NotTheAuthor(Forbidden):
    code = "not_author"
    message = "Only the ticket's author may rate it"


class NotClosed(Conflict):
    code = "not_closed"
    message = "A ticket can be rated once it is closed"


class AlreadyRated(Conflict):
    code = "already_rated"
    message = "This ticket has been rated already"


def _checked(score: object, comment: str | None) -> RatingCreate:
    """The same input rule for every front door (REST validated it already; the web form
    and Discord pass what people chose)."""
    try:
        return RatingCreate.model_validate({"score": score, "comment": comment or None})
    except ValidationError as exc:
        raise Unprocessable(
            "Invalid rating",
            details=[
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ],
        ) from None


def rating_out(rating: TicketRating) -> RatingOut:
    return RatingOut(score=rating.score, comment=rating.comment, created_at=rating.created_at)


async def rate(
    session: AsyncSession,
    user: User,
    guid_ticket: uuid.UUID,
    score: object,
    comment: str | None,
    guid_action: uuid.UUID | None,
) -> TicketRating:
    """Rate a closed ticket as its author: 404 if not visible, 403 `not_author`, 409
    `not_closed` / `already_rated`. The ticket's `version` moves on (its resource shows the
    rating), and a `rated` event tells its assignee and team."""
    data = _checked(score, comment)
    await repository.lock_ticket(session, guid_ticket)
    ticket = await tickets.get_ticket(session, user, guid_ticket)
    if ticket.author_id != user.id:
        raise NotTheAuthor()
    if not Status(ticket.status).is_closed:
        raise NotClosed()
    if await repository.of_ticket(session, ticket.id) is not None:
        raise AlreadyRated()
    rating = TicketRating(
        ticket_id=ticket.id, author_id=user.id, score=data.score, comment=data.comment
    )
    await repository.add(session, rating)
    set_committed_value(ticket, "rating", rating)
    # Written with the event's flush: a new version, so a cached copy (ETag) is stale.
    ticket.updated_at = func.now()
    await record_event(
        session,
        ticket,
        Kind.rated,
        user,
        guid_action=guid_action,
        data={"score": data.score, "commented": data.comment is not None},
    )
    return rating
