"""Notification rules run inside the request's transaction."""

from __future__ import annotations

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.db import settings_of
from ticket_service.errors import Conflict, NotFound
from ticket_service.events.registry import Audience, entry
from ticket_service.notifications import repository
from ticket_service.notifications.models import Delivery, DeliveryStatus
from ticket_service.notifications.recipients import Concerned, Target, fan_out, reaches_people
from ticket_service.tickets.models import Ticket, TicketEvent
from ticket_service.worker.registry import jobs

# The ticket card in the service's Discord channel (integrations/discord/cards.py): the task
# is registered by the worker; deferred here by name, since the card shows what only a
# front door knows (the buttons of the workflow).
CARD_TASK = "discord_card"


async def on_event(session: AsyncSession, event: TicketEvent, ticket: Ticket) -> None:
    """Create the deliveries of an event already written, in the current transaction; the
    senders are woken when it commits. `ticket` must be loaded with its author, assignee
    and service."""
    await repository.insert_deliveries(
        session, event.id, await deliveries_for(session, event, ticket)
    )
    await defer_card(session, ticket)


async def deliveries_for(session: AsyncSession, event: TicketEvent, ticket: Ticket) -> list[Target]:
    """Whom an event is told, on which channel (each (channel, recipient) once): for
    `repository.insert_deliveries`, or written with the event (events.write). Reads the
    ticket's followers or the admins only when the event's audience has them."""
    spec = entry(event.kind)
    settings = settings_of(session)
    followers = (
        await repository.followers_of(session, ticket.id)
        if Audience.followers in spec.audience and reaches_people(settings)
        else []
    )
    admins = await repository.admins(session) if Audience.admins in spec.audience else []
    concerned = Concerned(
        ticket.service, ticket.author, ticket.assignee, followers, event.actor_id, admins
    )
    return fan_out(settings, spec, concerned)


def card_due(session: AsyncSession, ticket: Ticket) -> bool:
    """Whether a change of `ticket` queues a card job (`defer_card`): its service posts
    to a Discord channel and the bot is configured."""
    return bool(ticket.service.discord_channel_id and settings_of(session).discord_bot_token)


async def defer_card(session: AsyncSession, ticket: Ticket) -> None:
    """Post or edit the ticket's card, in the change's transaction. Several changes in a
    row make one edit: while a card job waits in the queue, another is not queued
    (`queueing_lock`), and the waiting one reads the ticket when it runs. Two card jobs of
    one ticket never run at once (`lock`), so an older edit never lands after a newer."""
    if not card_due(session, ticket):
        return
    lock = f"card:{ticket.id}"
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None  # noqa: S101 - the session's connection is open
    task = jobs.configure_task(
        CARD_TASK, connection=raw, lock=lock, queueing_lock=lock, queue="notifications"
    )
    try:
        # A savepoint (psycopg's, on the same connection: the session's would only be
        # emitted on its next statement): the refused INSERT of a second waiting job must
        # not abort the change.
        async with raw.transaction():
            await task.defer_async(guid_ticket=str(ticket.id))
    except AlreadyEnqueued:
        pass  # the waiting job will show this change too


async def retry_dead(session: AsyncSession, delivery_id: int) -> Delivery:
    """An admin replays a dead delivery: a fresh set of attempts, starting now."""
    delivery = await repository.locked_delivery(session, delivery_id)
    if delivery is None:
        raise NotFound("No such delivery", code="delivery_not_found")
    if delivery.status != DeliveryStatus.dead:
        raise Conflict(
            f"Only dead deliveries can be replayed; this one is {delivery.status}",
            code="delivery_not_dead",
        )
    delivery.status = DeliveryStatus.pending.value
    delivery.attempts = 0
    delivery.next_attempt_at = None
    await session.flush()
    await repository.wake_senders(session)
    return delivery
