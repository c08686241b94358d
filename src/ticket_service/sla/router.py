"""Admin API of SLAs: business calendars and each service's policies. Agents may read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from ticket_service.auth.dependencies import AdminUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.sla import service
from ticket_service.sla.dependencies import StaffUser
from ticket_service.sla.schemas import (
    SLUG_PATTERN,
    CalendarCreate,
    CalendarIn,
    CalendarList,
    CalendarOut,
    ServiceSlaIn,
    ServiceSlaOut,
)

router = APIRouter(prefix="/api/v1", tags=["sla"])
SlugPath = Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN)]


def _calendar_params(body: CalendarIn) -> dict[str, object]:
    return {
        "time_zone": body.time_zone,
        "days": sorted(body.hours),
        "holidays": len(body.holidays),
    }


@router.get(
    "/services/{slug}/sla",
    summary="A service's SLA (staff)",
    responses=responses(401, 403, 404, 422),
)
async def get_service_sla(
    action: Annotated[ActionRecord, Depends(Action("get_service_sla"))],
    slug: SlugPath,
    user: StaffUser,
    session: Session,
) -> ServiceSlaOut:
    """The service's calendar (the default one when it has none), auto-close days and its
    policies: first-response and resolution targets per priority, in business minutes."""
    action.set_params({"slug": slug})
    return await service.get_service_sla(session, slug)


@router.put(
    "/services/{slug}/sla",
    summary="Set a service's SLA (admin)",
    responses=responses(401, 403, 404, 422),
)
async def put_service_sla(
    action: Annotated[ActionRecord, Depends(Action("set_service_sla"))],
    slug: SlugPath,
    body: ServiceSlaIn,
    admin: AdminUser,
    session: Session,
) -> ServiceSlaOut:
    """Replace the service's SLA. The policies listed replace the ones it had (a priority
    left out has no SLA for new tickets); `calendar` null is the default calendar;
    `auto_close_days` 0 never closes waiting tickets. Tickets already open keep the targets
    and due dates they were given. An unknown calendar → 404 `calendar_not_found`."""
    action.set_params({"slug": slug, **body.model_dump(mode="json")})
    return await service.set_service_sla(session, slug, body)


@router.get("/calendars", summary="Business calendars (staff)", responses=responses(401, 403))
async def list_calendars(
    action: Annotated[ActionRecord, Depends(Action("list_calendars"))],
    user: StaffUser,
    session: Session,
) -> CalendarList:
    """Every stored calendar. Services without one use the default (`Europe/Moscow`,
    Monday to Friday 09:00-18:00), shown by `GET /api/v1/services/{slug}/sla`."""
    return CalendarList(items=await service.list_calendars(session))


@router.post(
    "/calendars",
    status_code=201,
    summary="Add a business calendar (admin)",
    responses=responses(401, 403, 409, 422),
)
async def create_calendar(
    action: Annotated[ActionRecord, Depends(Action("create_calendar"))],
    body: CalendarCreate,
    admin: AdminUser,
    session: Session,
    response: Response,
) -> CalendarOut:
    """Working hours per weekday (`mon`..`sun`, local time of `time_zone`, an IANA name;
    several intervals a day allowed, `24:00` ends at midnight, a day left out is a day off),
    and holidays. An unknown time zone, overlapping or reversed hours, or a calendar
    without any working time → 422. A slug taken → 409 `calendar_exists`."""
    action.set_params({"slug": body.slug, **_calendar_params(body)})
    created = await service.create_calendar(session, body)
    response.headers["Location"] = f"/api/v1/calendars/{created.slug}"
    return created


@router.get(
    "/calendars/{slug}",
    summary="One business calendar (staff)",
    responses=responses(401, 403, 404, 422),
)
async def get_calendar(
    action: Annotated[ActionRecord, Depends(Action("get_calendar"))],
    slug: SlugPath,
    user: StaffUser,
    session: Session,
) -> CalendarOut:
    action.set_params({"slug": slug})
    return await service.get_calendar(session, slug)


@router.put(
    "/calendars/{slug}",
    summary="Replace a business calendar (admin)",
    responses=responses(401, 403, 404, 422),
)
async def put_calendar(
    action: Annotated[ActionRecord, Depends(Action("replace_calendar"))],
    slug: SlugPath,
    body: CalendarIn,
    admin: AdminUser,
    session: Session,
) -> CalendarOut:
    """Same rules as creating one. New hours apply to due dates computed from now on."""
    action.set_params({"slug": slug, **_calendar_params(body)})
    return await service.replace_calendar(session, slug, body)


@router.delete(
    "/calendars/{slug}",
    status_code=204,
    summary="Delete a business calendar (admin)",
    responses=responses(401, 403, 404, 409, 422),
)
async def delete_calendar(
    action: Annotated[ActionRecord, Depends(Action("delete_calendar"))],
    slug: SlugPath,
    admin: AdminUser,
    session: Session,
) -> Response:
    """Only a calendar no service uses (409 `calendar_in_use` lists them)."""
    action.set_params({"slug": slug})
    await service.delete_calendar(session, slug)
    return Response(status_code=204)
