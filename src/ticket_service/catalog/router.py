from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from ticket_service.auth.dependencies import AdminUser, CurrentUser
from ticket_service.catalog import repository, service
from ticket_service.catalog.schemas import (
    NULLABLE_FIELDS,
    SLUG_PATTERN,
    ServiceCreate,
    ServiceList,
    ServiceOut,
    ServiceUpdate,
    service_out,
)
from ticket_service.db import Session
from ticket_service.errors import responses
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
) -> ServiceOut:
    """Rename, describe, or deactivate a service (inactive ones take no new tickets)."""
    # Webhook URLs are credentials: the log says that they changed, not what they are.
    changed = body.model_dump(exclude_unset=True)
    action.set_params(
        {
            "slug": slug,
            **{k: ("***" if k in NULLABLE_FIELDS and v else v) for k, v in changed.items()},
        }
    )
    return service_out(await service.update(session, slug, body))
