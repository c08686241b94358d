"""Notification rules run inside the request's transaction."""

from __future__ import annotations

from procrastinate.types import JSONValue
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.db import settings_of
from ticket_service.errors import Conflict, NotFound
from ticket_service.events.registry import Audience, entry
from ticket_service.notifications import repository
from ticket_service.notifications.models import Delivery, DeliveryStatus
from ticket_service.notifications.recipients import Concerned, fan_out
from ticket_service.notifications.tasks import deliver
from ticket_service.tickets.models import Ticket, TicketEvent


async def _defer(session: AsyncSession, delivery_ids: list[int]) -> None:
    """Defer on the session's own connection: the jobs commit or roll back with the change."""
    if not delivery_ids:
        return
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    task = deliver.configure(connection=raw)
    batch: list[dict[str, JSONValue]] = [{"delivery_id": i} for i in delivery_ids]
    await task.batch_defer_async(*batch)


async def on_event(session: AsyncSession, event: TicketEvent, ticket: Ticket) -> None:
    """Create the deliveries an event calls for, and their jobs, in the current transaction
    (events.record calls this). `ticket` must be loaded with its author, assignee and
    service."""
    spec = entry(event.kind)
    followers = (
        await repository.followers_of(session, ticket.id)
        if Audience.followers in spec.audience
        else []
    )
    concerned = Concerned(ticket.service, ticket.author, ticket.assignee, followers, event.actor_id)
    targets = fan_out(settings_of(session), spec, concerned)
    ids = await repository.insert_deliveries(session, event.id, targets)
    await _defer(session, ids)


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
    await _defer(session, [delivery.id])
    return delivery
