from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from ticket_service.auth.dependencies import AdminUser, CurrentUser
from ticket_service.catalog import repository, service
from ticket_service.catalog.schemas import (
    SLUG_PATTERN,
    URL_FIELDS,
    ServiceCreate,
    ServiceList,
    ServiceOut,
    ServiceUpdate,
    service_out,
)
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.kit.redact import mask_email
from ticket_service.ops.action_log import Action, ActionRecord

router = APIRouter(prefix="/api/v1/services", tags=["services"])


@router.get("", summary="Services tickets can be addressed to", responses=responses(401))
async def list_services(
    action: Annotated[ActionRecord, Depends(Action("list_services"))],
    user: CurrentUser,
    session: Session,
) -> ServiceList:
    """Active services; agents and admins also see inactive ones."""
    services = await repository.all_services(session, include_inactive=user.role_enum.is_staff)
    return ServiceList(items=[service_out(s) for s in services])


@router.post(
    "", status_code=201, summary="Add a service (admin)", responses=responses(401, 403, 409, 422)
)
async def create_service(
    action: Annotated[ActionRecord, Depends(Action("create_service"))],
    body: ServiceCreate,
    admin: AdminUser,
    session: Session,
) -> ServiceOut:
    action.set_params(body.model_dump())
    return service_out(await service.create(session, body))


@router.patch(
    "/{slug}", summary="Update a service (admin)", responses=responses(401, 403, 404, 422)
)
async def update_service(
    action: Annotated[ActionRecord, Depends(Action("update_service"))],
    slug: Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN)],
    body: ServiceUpdate,
    admin: AdminUser,
    session: Session,
    request: Request,
) -> ServiceOut:
    """Rename, describe, or deactivate a service (inactive ones take no new tickets), or
    choose how its new tickets are assigned (`assignment`: manual, round_robin, least_loaded).

    `discord_channel_id` (a Discord id) makes the bot post a card with buttons of each new
    ticket of the service in that channel, edited as the ticket changes.

        Webhook URLs are stored encrypted and never shown back. A URL the service will not call
        is refused with 422 `url_refused` and the reason: anything but https in production, or
        a host that is or resolves to a loopback, private, link-local, multicast or cloud
        metadata address (unless listed in OUTBOUND_ALLOWED_HOSTS)."""
    # Webhook URLs are credentials and addresses are personal: the log says what changed,
    # not what it is.
    changed = body.model_dump(exclude_unset=True)
    params: dict[str, object] = {"slug": slug}
    for key, value in changed.items():
        if key in URL_FIELDS and value:
            value = "***"
        elif key == "notify_emails" and value is not None:
            value = [mask_email(address) for address in value]
        params[key] = value
    action.set_params(params)
    policy = request.app.state.settings.outbound_policy
    return service_out(await service.update(session, slug, body, policy))
