"""Teams, claim and assign, followers, availability: thin HTTP over assignment.service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ticket_service.assignment import service
from ticket_service.assignment.schemas import (
    AgentList,
    AgentOut,
    AssignBody,
    AvailabilityChange,
    agent_out,
)
from ticket_service.auth.dependencies import AdminUser, CurrentUser
from ticket_service.catalog.schemas import SLUG_PATTERN
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.kit.preconditions import ETAG_HEADER, PRECONDITION_FAILED, IfMatch, ticket_etag
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.tickets.schemas import TicketOut, ticket_out
from ticket_service.users.schemas import UserOut, user_out

router = APIRouter(prefix="/api/v1", tags=["assignment"])

SlugPath = Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN)]
DiscordIdPath = Annotated[str, Path(max_length=32, pattern=r"^\d+$")]


@router.get(
    "/services/{slug}/agents",
    summary="A service's team (admin)",
    responses=responses(401, 403, 404, 422),
)
async def list_agents(
    action: Annotated[ActionRecord, Depends(Action("list_agents"))],
    slug: SlugPath,
    admin: AdminUser,
    session: Session,
) -> AgentList:
    """The agents who see and work the service's tickets, in the order they joined, with
    their availability and their last automatic assignment."""
    action.set_params({"slug": slug})
    team = await service.team_with_turns(session, slug)
    return AgentList(items=[agent_out(user, last) for user, last in team])


@router.put(
    "/services/{slug}/agents/{discord_id}",
    summary="Put an agent on a service's team (admin)",
    responses=responses(401, 403, 404, 422),
)
async def add_agent(
    action: Annotated[ActionRecord, Depends(Action("add_agent"))],
    slug: SlugPath,
    discord_id: DiscordIdPath,
    admin: AdminUser,
    session: Session,
) -> AgentOut:
    """Idempotent. Only agents and admins can be on a team (an employee: 422 `not_staff`);
    the person must have signed in once (else 404 `user_not_found`)."""
    action.set_params({"slug": slug, "discord_id": discord_id})
    user = await service.add_member(session, slug, discord_id)
    team = await service.team_with_turns(session, slug)
    return next(agent_out(u, last) for u, last in team if u.id == user.id)


@router.delete(
    "/services/{slug}/agents/{discord_id}",
    status_code=204,
    summary="Take an agent off a service's team (admin)",
    responses=responses(401, 403, 404, 422),
)
async def remove_agent(
    action: Annotated[ActionRecord, Depends(Action("remove_agent"))],
    slug: SlugPath,
    discord_id: DiscordIdPath,
    admin: AdminUser,
    session: Session,
) -> Response:
    """Idempotent. Tickets assigned to them stay theirs until reassigned."""
    action.set_params({"slug": slug, "discord_id": discord_id})
    await service.remove_member(session, slug, discord_id)
    return Response(status_code=204)


@router.post(
    "/tickets/{guid_ticket}/claim",
    summary="Take a ticket (its service's team)",
    responses={
        200: {"description": "The ticket, yours", "headers": ETAG_HEADER},
        **responses(400, 401, 403, 404, 409, 422),
        **PRECONDITION_FAILED,
    },
)
async def claim(
    action: Annotated[ActionRecord, Depends(Action("claim_ticket"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
    response: Response,
    if_match: IfMatch,
) -> TicketOut:
    """Become the ticket's assignee. Somebody else has it: 409 `already_assigned` with
    `details.assignee`; of two simultaneous claims exactly one wins. Not on the service's
    team: 403 `team_only`; closed: 409 `ticket_closed`; `If-Match` stale: 412."""
    action.guid_ticket = guid_ticket
    ticket = await service.claim(session, user, guid_ticket, action.guid_action, if_match=if_match)
    response.headers["ETag"] = ticket_etag(ticket.version)
    return ticket_out(ticket)


@router.post(
    "/tickets/{guid_ticket}/assign",
    summary="Assign a ticket (its service's team, admins)",
    responses={
        200: {"description": "The ticket after the change", "headers": ETAG_HEADER},
        **responses(400, 401, 403, 404, 409, 422),
        **PRECONDITION_FAILED,
    },
)
async def assign(
    action: Annotated[ActionRecord, Depends(Action("assign_ticket"))],
    guid_ticket: uuid.UUID,
    body: AssignBody,
    user: CurrentUser,
    session: Session,
    response: Response,
    if_match: IfMatch,
) -> TicketOut:
    """Give the ticket to a member of its service's team (else 422 `not_in_team`), or to
    nobody with `{"assignee": null}`. Only the team and admins may (else 403 `team_only`);
    `If-Match` stale: 412."""
    action.guid_ticket = guid_ticket
    action.set_params({"assignee": body.assignee})
    ticket = await service.assign_to(
        session, user, guid_ticket, body.assignee, action.guid_action, if_match=if_match
    )
    response.headers["ETag"] = ticket_etag(ticket.version)
    return ticket_out(ticket)


@router.put(
    "/tickets/{guid_ticket}/followers/me",
    status_code=204,
    summary="Follow a ticket (its staff)",
    responses=responses(401, 403, 404, 422),
)
async def follow(
    action: Annotated[ActionRecord, Depends(Action("follow_ticket"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
) -> Response:
    """Hear about every event on the ticket you may see (e-mail, Discord DM). For its staff:
    an admin, its service's team, its assignee; anybody else who sees it: 403 `staff_only`."""
    action.guid_ticket = guid_ticket
    await service.follow(session, user, guid_ticket)
    return Response(status_code=204)


@router.delete(
    "/tickets/{guid_ticket}/followers/me",
    status_code=204,
    summary="Stop following a ticket",
    responses=responses(401, 404, 422),
)
async def unfollow(
    action: Annotated[ActionRecord, Depends(Action("unfollow_ticket"))],
    guid_ticket: uuid.UUID,
    user: CurrentUser,
    session: Session,
) -> Response:
    """Idempotent. An agent who saw the ticket only because they followed it no longer
    sees it afterwards."""
    action.guid_ticket = guid_ticket
    await service.unfollow(session, user, guid_ticket)
    return Response(status_code=204)


@router.put(
    "/me/availability",
    summary="Mark yourself away or back (agents, admins)",
    responses=responses(401, 403, 422),
)
async def set_availability(
    action: Annotated[ActionRecord, Depends(Action("set_availability"))],
    body: AvailabilityChange,
    user: CurrentUser,
    session: Session,
) -> UserOut:
    """Away (`available: false`, optionally `until` a moment in the future with a time
    zone), automatic assignment skips you; once `until` passes you are available again."""
    action.set_params(body.model_dump(mode="json"))
    updated = await service.set_availability(session, user, body.available, body.until)
    return user_out(updated)
