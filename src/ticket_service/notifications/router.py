"""Admins watch and replay deliveries; every user chooses their personal channels."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from ticket_service.auth.dependencies import AdminUser, CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.kit.pagination import decode_cursor, encode_cursor
from ticket_service.notifications import repository, service
from ticket_service.notifications.models import Delivery
from ticket_service.notifications.schemas import (
    DeliveryOut,
    DeliveryPage,
    NotificationSettings,
    NotificationSettingsUpdate,
)
from ticket_service.ops.action_log import Action, ActionRecord

router = APIRouter(prefix="/api/v1", tags=["notifications"])


def delivery_out(delivery: Delivery, guid_ticket: object) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        guid_ticket=str(guid_ticket),
        channel=delivery.channel,
        recipient=delivery.recipient,
        status=delivery.status,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        sent_at=delivery.sent_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
    )


@router.get(
    "/admin/deliveries",
    summary="Notification deliveries (admin)",
    responses=responses(400, 401, 403, 422),
)
async def list_deliveries(
    action: Annotated[ActionRecord, Depends(Action("list_deliveries"))],
    admin: AdminUser,
    session: Session,
    status: Literal["pending", "sending", "sent", "failed", "dead"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """Newest first; `?status=dead` lists what gave up and needs a look (and a replay)."""
    action.set_params({"status": status, "limit": limit})
    before = decode_cursor(cursor) if cursor else None
    rows = await repository.deliveries(session, status, limit, before)
    page = rows[:limit]
    more = len(rows) > limit
    return DeliveryPage(
        items=[delivery_out(d, t) for d, t in page],
        next_cursor=encode_cursor(page[-1][0].id) if more else None,
    )


@router.post(
    "/admin/deliveries/{delivery_id}/retry",
    summary="Replay a dead delivery (admin)",
    responses=responses(401, 403, 404, 409, 422),
)
async def retry_delivery(
    action: Annotated[ActionRecord, Depends(Action("retry_delivery"))],
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    admin: AdminUser,
    session: Session,
) -> DeliveryOut:
    """Give a dead delivery a fresh set of attempts, starting now (409 unless it is dead)."""
    action.set_params({"delivery_id": delivery_id})
    delivery = await service.retry_dead(session, delivery_id)
    rows = await repository.deliveries(session, None, 1, delivery.id + 1)
    return delivery_out(*rows[0])


@router.get("/me/notifications", summary="My notification settings", responses=responses(401))
async def my_notifications(
    action: Annotated[ActionRecord, Depends(Action("get_notification_settings"))],
    user: CurrentUser,
) -> NotificationSettings:
    return NotificationSettings(email=user.notify_email, discord=user.notify_discord)


@router.patch(
    "/me/notifications",
    summary="Change my notification settings",
    responses=responses(401, 422),
)
async def update_my_notifications(
    action: Annotated[ActionRecord, Depends(Action("update_notification_settings"))],
    body: NotificationSettingsUpdate,
    user: CurrentUser,
    session: Session,
) -> NotificationSettings:
    """Opt out of (or back into) e-mail and Discord direct messages about your tickets.
    Team channels (Slack, Discord channel, webhooks) are not personal and stay on."""
    action.set_params(body.model_dump(exclude_none=True))
    if body.email is not None:
        user.notify_email = body.email
    if body.discord is not None:
        user.notify_discord = body.discord
    await session.flush()
    return NotificationSettings(email=user.notify_email, discord=user.notify_discord)
