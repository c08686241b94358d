"""Assignment rules: service teams, who may hand a ticket to whom, automatic assignment,
followers, agents' availability. Services flush; the request commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.assignment import repository
from ticket_service.auth.token_cache import note_auth_changed
from ticket_service.catalog.models import AssignmentMode, Service
from ticket_service.errors import Conflict, Forbidden, NotFound, Unprocessable
from ticket_service.events.record import publish, stage_event
from ticket_service.events.registry import Kind
from ticket_service.kit.preconditions import Condition, check_if_match, ticket_etag
from ticket_service.tickets import access
from ticket_service.tickets import service as tickets
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.users.models import Role, User
from ticket_service.vocabulary import Status

NOBODY_AVAILABLE = "nobody_available"


class ServiceNotFound(NotFound):
    code = "service_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"
    message = "No user with this Discord id has signed in yet"


class NotStaff(Unprocessable):
    code = "not_staff"
    message = "Only agents and admins can be on a service's team"


class NotInTeam(Unprocessable):
    code = "not_in_team"
    message = "The assignee must be on the team of the ticket's service"


class TeamOnly(Forbidden):
    code = "team_only"
    message = "Only the team of the ticket's service (or an admin) may do this"


class StaffOnly(Forbidden):
    code = "staff_only"
    message = "Only the ticket's staff may do this"


class AlreadyAssigned(Conflict):
    code = "already_assigned"
    message = "Somebody else has this ticket already"


class TicketClosed(Conflict):
    code = "ticket_closed"
    message = "The ticket is closed; reopen it first"


# --- recording ---------------------------------------------------------------------------


def hand_over(
    session: AsyncSession,
    ticket: Ticket,
    assignee: User | None,
    actor: User | None,
    guid_action: uuid.UUID | None = None,
) -> TicketEvent:
    """Give the ticket to `assignee` (None: to nobody) and stage its `assigned` event, for
    the caller to publish with its own (events.record.publish). The caller has checked the
    rights; `actor` None is the service itself (automatic assignment)."""
    previous = ticket.assignee
    ticket.assignee = assignee
    return stage_event(
        session,
        ticket,
        Kind.assigned,
        actor,
        guid_action=guid_action,
        data={
            "assignee": assignee.discord_id if assignee else None,
            "previous": previous.discord_id if previous else None,
        },
    )


async def assign(
    session: AsyncSession,
    ticket: Ticket,
    assignee: User | None,
    actor: User | None,
    guid_action: uuid.UUID | None = None,
) -> None:
    """Give the ticket to `assignee` and record it (`hand_over`, published at once)."""
    await publish(session, ticket, [hand_over(session, ticket, assignee, actor, guid_action)])


# --- teams -------------------------------------------------------------------------------


async def _service(session: AsyncSession, slug: str) -> Service:
    service = await repository.service_by_slug(session, slug)
    if service is None:
        raise ServiceNotFound(f"No service {slug!r}")
    return service


async def team_of(session: AsyncSession, slug: str) -> list[User]:
    """The service's team, in the order they joined."""
    return [user for user, _ in await team_with_turns(session, slug)]


async def team_of_ticket(session: AsyncSession, ticket: Ticket) -> list[User]:
    """`team_of` the ticket's service, by the id the ticket carries (no lookup by slug)."""
    return [user for user, _ in await repository.members(session, ticket.service_id)]


async def team_with_turns(session: AsyncSession, slug: str) -> list[tuple[User, datetime | None]]:
    """The team and when automatic assignment last picked each member."""
    service = await _service(session, slug)
    return [(u, m.last_assigned_at) for u, m in await repository.members(session, service.id)]


async def add_member(session: AsyncSession, slug: str, discord_id: str) -> User:
    """Put an agent (or admin) on the service's team; already on it: nothing changes."""
    service = await _service(session, slug)
    user = await repository.user_by_discord_id(session, discord_id)
    if user is None:
        raise UserNotFound()
    if not user.role_enum.is_staff:
        raise NotStaff(details={"discord_id": discord_id, "role": user.role})
    await repository.add_member(session, service.id, user.id)
    return user


async def remove_member(session: AsyncSession, slug: str, discord_id: str) -> None:
    """Take somebody off the team. Tickets assigned to them stay theirs (and visible to
    them) until reassigned; not on the team: nothing changes."""
    service = await _service(session, slug)
    user = await repository.user_by_discord_id(session, discord_id)
    if user is None:
        raise UserNotFound()
    await repository.remove_member(session, service.id, user.id)


# --- claim and assign --------------------------------------------------------------------


async def _locked_ticket(session: AsyncSession, user: User, guid_ticket: uuid.UUID) -> Ticket:
    # Lock first, read second: the read then sees the latest committed assignee, so of two
    # concurrent claims the second waits here and finds the first one's name.
    await repository.lock_ticket(session, guid_ticket)
    return await tickets.get_ticket(session, user, guid_ticket)


def _open(ticket: Ticket) -> None:
    if Status(ticket.status).is_closed:
        raise TicketClosed(details={"status": ticket.status})


async def _may_hand_out(session: AsyncSession, user: User, ticket: Ticket) -> bool:
    return user.role_enum is Role.admin or (
        user.role_enum.is_staff and await repository.is_member(session, ticket.service_id, user.id)
    )


async def claim(
    session: AsyncSession,
    user: User,
    guid_ticket: uuid.UUID,
    guid_action: uuid.UUID | None,
    *,
    if_match: Condition | None = None,
) -> Ticket:
    """A member of the service's team takes the ticket. Somebody else has it: 409
    `already_assigned` with `details.assignee`; the caller has it already: nothing changes.
    `if_match`: the caller's `If-Match`, compared with the locked row (412 when stale)."""
    ticket = await _locked_ticket(session, user, guid_ticket)
    check_if_match(if_match, ticket_etag(ticket.version))
    if not user.role_enum.is_staff or not await repository.is_member(
        session, ticket.service_id, user.id
    ):
        raise TeamOnly("Only a member of the service's team may claim its tickets")
    _open(ticket)
    if ticket.assignee is not None:
        if ticket.assignee_id == user.id:
            return ticket
        raise AlreadyAssigned(
            f"{ticket.assignee.discord_id} has this ticket already",
            details={"assignee": ticket.assignee.discord_id},
        )
    await assign(session, ticket, user, user, guid_action)
    return ticket


async def assign_to(
    session: AsyncSession,
    actor: User,
    guid_ticket: uuid.UUID,
    assignee_discord_id: str | None,
    guid_action: uuid.UUID | None,
    *,
    if_match: Condition | None = None,
) -> Ticket:
    """A team member or an admin gives the ticket to a team member, or (None) to nobody.
    `if_match`: the caller's `If-Match`, compared with the locked row (412 when stale)."""
    ticket = await _locked_ticket(session, actor, guid_ticket)
    check_if_match(if_match, ticket_etag(ticket.version))
    if not await _may_hand_out(session, actor, ticket):
        raise TeamOnly()
    _open(ticket)
    assignee: User | None = None
    if assignee_discord_id is not None:
        assignee = await repository.staff_member(session, ticket.service_id, assignee_discord_id)
        if assignee is None:
            raise NotInTeam(
                details={"assignee": assignee_discord_id, "service": ticket.service.slug}
            )
    if (assignee.id if assignee else None) == ticket.assignee_id:
        return ticket
    await assign(session, ticket, assignee, actor, guid_action)
    return ticket


async def pick_on_open(session: AsyncSession, service: Service) -> tuple[User | None, str | None]:
    """Whom a new ticket of `service` goes to, by the service's mode, and if nobody, why.
    Takes the service's row lock (until the request commits) so concurrent opens take
    turns; call `assign_on_open` with the answer once the ticket is written."""
    if service.assignment == AssignmentMode.manual.value:
        return None, None
    mode = await repository.lock_service(session, service.id)
    if mode not in (AssignmentMode.round_robin.value, AssignmentMode.least_loaded.value):
        return None, None  # made manual while we waited for the lock
    least_loaded = mode == AssignmentMode.least_loaded.value
    chosen = await repository.next_in_turn(session, service.id, least_loaded)
    return chosen, None if chosen is not None else NOBODY_AVAILABLE


async def assign_on_open(
    session: AsyncSession, ticket: Ticket, assignee: User, guid_action: uuid.UUID | None
) -> None:
    """Hand a just-opened ticket to the member `pick_on_open` chose, and move their turn."""
    await repository.mark_assigned(session, ticket.service_id, assignee.id)
    await assign(session, ticket, assignee, None, guid_action)


@dataclass(frozen=True)
class Powers:
    """What a person may do about a ticket's assignment and following right now: for front
    doors that offer only the buttons that will work (each action checks again)."""

    claim: bool
    assign: bool
    follow: bool
    following: bool


async def powers(session: AsyncSession, user: User, ticket: Ticket, staff: bool) -> Powers:
    """The same rules as `claim`, `assign_to` and `follow`, asked without acting. `staff`:
    `access.staff_on` of this ticket for this person, as read with the ticket
    (`tickets.service.get_ticket_as`): a page asks it once."""
    is_open = not Status(ticket.status).is_closed
    if user.role_enum.is_staff:
        member, following = await repository.member_and_following(
            session, ticket.service_id, ticket.id, user.id
        )
    else:
        member, following = False, await is_following(session, user, ticket)
    # staff_on counts following: for one who does not follow, it is the answer of
    # staff_on(counting_following=False), the rule `follow` asks.
    may_follow = following or staff
    return Powers(
        claim=is_open and member and ticket.assignee_id is None,
        assign=is_open and (member or user.role_enum is Role.admin),
        follow=may_follow,
        following=following,
    )


# --- followers ---------------------------------------------------------------------------


async def follow(session: AsyncSession, user: User, guid_ticket: uuid.UUID) -> None:
    """Staff of the ticket (an admin, a team member, the assignee) follow it: they hear about
    every event on it they may see. Following is not a way in: it does not count here."""
    ticket = await tickets.get_ticket(session, user, guid_ticket)
    if await is_following(session, user, ticket):
        return
    if not await access.staff_on(session, user, ticket, counting_following=False):
        raise StaffOnly("Only the ticket's staff may follow it")
    await repository.add_follower(session, ticket.id, user.id)


async def unfollow(session: AsyncSession, user: User, guid_ticket: uuid.UUID) -> None:
    """Stop following; not following: nothing changes. Note that an agent who saw the
    ticket only by following it no longer sees it afterwards."""
    ticket = await tickets.get_ticket(session, user, guid_ticket)
    await repository.remove_follower(session, ticket.id, user.id)


async def is_following(session: AsyncSession, user: User, ticket: Ticket) -> bool:
    return await repository.is_following(session, ticket.id, user.id)


# --- availability ------------------------------------------------------------------------


async def set_availability(
    session: AsyncSession, user: User, available: bool, until: datetime | None
) -> User:
    """Mark oneself away (optionally until a moment in the future) or back. Automatic
    assignment skips people who are away; `until` passing makes them available again."""
    if not user.role_enum.is_staff:
        raise Forbidden("Only agents and admins work tickets", code="staff_only")
    if until is not None:
        if available:
            raise Unprocessable("`until` goes with `available: false`", code="invalid_until")
        if until.tzinfo is None or until <= datetime.now(UTC):
            raise Unprocessable(
                "`until` must be a moment in the future, with a time zone",
                code="invalid_until",
                details={"until": until.isoformat()},
            )
    await repository.set_availability(session, user, available, until)
    note_auth_changed(session, user.id)  # an explicit UPDATE: no flush tells the cache
    return user
