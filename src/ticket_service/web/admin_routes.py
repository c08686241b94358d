"""Admin pages: services, people and roles, sessions, dead notification deliveries.

Each change calls the service function the admin API calls; webhook URLs are write-only
(the page says "set" or "not set", never the URL).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import ValidationError

from ticket_service.assignment import service as assignment
from ticket_service.catalog import repository as catalog_repository
from ticket_service.catalog import service as catalog
from ticket_service.catalog.models import AssignmentMode
from ticket_service.catalog.schemas import (
    NULLABLE_FIELDS,
    SLUG_PATTERN,
    ServiceCreate,
    ServiceUpdate,
)
from ticket_service.db import Session
from ticket_service.errors import NotFound, Unprocessable
from ticket_service.kit.redact import mask_email
from ticket_service.notifications import repository as deliveries
from ticket_service.notifications import service as notifications
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.sla import service as sla
from ticket_service.sla.calendar import WEEKDAYS
from ticket_service.sla.schemas import (
    CalendarCreate,
    CalendarIn,
    CalendarOut,
    ServiceSlaIn,
    ServiceSlaOut,
)
from ticket_service.users import service as users
from ticket_service.users.models import Role
from ticket_service.vocabulary import Priority
from ticket_service.web.errors import field_errors
from ticket_service.web.pages import AdminPage, Form, Page

router = APIRouter(prefix="/admin", include_in_schema=False)

SlugPath = Annotated[str, Path(max_length=64, pattern=SLUG_PATTERN)]
DiscordIdPath = Annotated[str, Path(max_length=32, pattern=r"^\d+$")]


@router.get("/services")
async def services_page(current: AdminPage, session: Session) -> Response:
    services = await catalog_repository.all_services(session, include_inactive=True)
    return current.render("admin/services.html", services=services, values={}, errors={})


@router.post("/services")
async def create_service(
    action: Annotated[ActionRecord, Depends(Action("create_service"))],
    fields: Form,
    current: AdminPage,
    session: Session,
) -> Response:
    values = {k: fields.get(k, "") for k in ("slug", "name", "description")}
    try:
        data = ServiceCreate(**values)
    except ValidationError as exc:
        services = await catalog_repository.all_services(session, include_inactive=True)
        return current.render(
            "admin/services.html",
            services=services,
            values=values,
            errors=field_errors(exc),
            status_code=422,
        )
    action.set_params(data.model_dump())
    await catalog.create(session, data)
    return current.redirect(f"/admin/services/{data.slug}")


async def _service_form(
    current: Page,
    session: Session,
    slug: str,
    values: dict[str, Any] | None,
    errors: dict[str, str],
    status_code: int = 200,
    team_values: dict[str, str] | None = None,
    sla_values: dict[str, str] | None = None,
    sla_errors: dict[str, str] | None = None,
) -> Response:
    service = await catalog_repository.by_slug(session, slug)
    if service is None:
        raise NotFound(code="service_not_found")
    if sla_values is None:
        sla_values = _sla_values(await sla.get_service_sla(session, slug))
    if values is None:
        values = {
            "name": service.name,
            "description": service.description,
            "notify_emails": "\n".join(service.notify_emails or []),
            "assignment": service.assignment,
        }
    return current.render(
        "admin/service.html",
        service=service,
        values=values,
        errors=errors,
        status_code=status_code,
        team=await assignment.team_with_turns(session, slug),
        modes=list(AssignmentMode),
        team_values=team_values or {},
        sla_values=sla_values,
        sla_errors=sla_errors or {},
        calendars=await sla.list_calendars(session),
        priorities=list(Priority),
    )


@router.get("/services/{slug}")
async def service_page(current: AdminPage, session: Session, slug: SlugPath) -> Response:
    return await _service_form(current, session, slug, None, {})


def _update_from(fields: dict[str, str]) -> dict[str, Any]:
    """The form as a ServiceUpdate payload: a blank webhook field leaves it as it is, the
    "remove" box removes it."""
    changes: dict[str, Any] = {
        "name": fields.get("name", ""),
        "description": fields.get("description", ""),
        "is_active": fields.get("is_active") == "on",
        "assignment": fields.get("assignment") or None,
        "notify_emails": [
            line.strip() for line in fields.get("notify_emails", "").splitlines() if line.strip()
        ],
    }
    for name in sorted(NULLABLE_FIELDS):
        if fields.get(f"remove_{name}") == "on":
            changes[name] = None
        elif fields.get(name, "").strip():
            changes[name] = fields[name].strip()
    return changes


@router.post("/services/{slug}")
async def update_service(
    action: Annotated[ActionRecord, Depends(Action("update_service"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    slug: SlugPath,
) -> Response:
    changes = _update_from(fields)
    values = {k: fields.get(k, "") for k in ("name", "description", "notify_emails", "assignment")}
    try:
        data = ServiceUpdate(**changes)
    except ValidationError as exc:
        return await _service_form(current, session, slug, values, field_errors(exc), 422)
    params: dict[str, object] = {
        "slug": slug,
        "is_active": data.is_active,
        "assignment": data.assignment.value if data.assignment else None,
    }
    params.update({k: "***" for k in NULLABLE_FIELDS if changes.get(k)})
    params["notify_emails"] = [mask_email(a) for a in data.notify_emails or []]
    action.set_params(params)
    try:
        await catalog.update(session, slug, data, current.settings.outbound_policy)
    except Unprocessable as exc:
        field = str((exc.details or {}).get("field", "form"))
        return await _service_form(current, session, slug, values, {field: "url_refused"}, 422)
    return current.redirect(f"/admin/services/{slug}?saved=1")


def _sla_values(current: ServiceSlaOut) -> dict[str, str]:
    """A service's SLA as the form's fields: `first_<priority>`, `resolution_<priority>`
    (minutes; both blank: no policy for that priority), `calendar`, `auto_close_days`."""
    values = {
        "calendar": "" if current.calendar_is_default else current.calendar.slug,
        "auto_close_days": str(current.auto_close_days),
    }
    for policy in current.policies:
        values[f"first_{policy.priority.value}"] = str(policy.first_response_minutes)
        values[f"resolution_{policy.priority.value}"] = str(policy.resolution_minutes)
    return values


_POLICY_FIELDS = {"first_response_minutes": "first", "resolution_minutes": "resolution"}


def _sla_input(values: dict[str, str]) -> tuple[ServiceSlaIn | None, dict[str, str]]:
    """The form as the API's PUT body; or the fields that are wrong (codes of
    `field_error`: a priority with only one of its two targets is `required`)."""
    errors: dict[str, str] = {}
    policies: list[dict[str, str]] = []
    for priority in Priority:
        first, resolution = values[f"first_{priority}"], values[f"resolution_{priority}"]
        if not first and not resolution:
            continue
        for name, value in ((f"first_{priority}", first), (f"resolution_{priority}", resolution)):
            if not value:
                errors[name] = "required"
        policies.append(
            {
                "priority": priority.value,
                "first_response_minutes": first,
                "resolution_minutes": resolution,
            }
        )
    try:
        data = ServiceSlaIn.model_validate(
            {
                "calendar": values["calendar"] or None,
                "auto_close_days": values["auto_close_days"] or None,
                "policies": policies,
            }
        )
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if loc and loc[0] == "policies" and len(loc) >= 3:
                level = policies[int(loc[1])]["priority"]
                errors.setdefault(f"{_POLICY_FIELDS[str(loc[2])]}_{level}", "minutes")
            elif loc and loc[0] == "auto_close_days":
                errors.setdefault("auto_close_days", "days")
            else:
                errors.setdefault("calendar", "choice")
        return None, errors
    return (None, errors) if errors else (data, {})


@router.post("/services/{slug}/sla")
async def set_service_sla(
    action: Annotated[ActionRecord, Depends(Action("set_service_sla"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    slug: SlugPath,
) -> Response:
    """The service's SLA: a policy per priority, its calendar and auto-close days, saved
    by sla.service.set_service_sla (the API's PUT /api/v1/services/{slug}/sla)."""
    names = ["calendar", "auto_close_days"]
    names += [f"{kind}_{p}" for p in Priority for kind in ("first", "resolution")]
    values = {name: fields.get(name, "").strip() for name in names}
    data, errors = _sla_input(values)
    if data is None:
        return await _service_form(
            current, session, slug, None, {}, 422, sla_values=values, sla_errors=errors
        )
    action.set_params({"slug": slug, **data.model_dump(mode="json")})
    try:
        await sla.set_service_sla(session, slug, data)
    except sla.CalendarNotFound:
        errors = {"calendar": "choice"}
        return await _service_form(
            current, session, slug, None, {}, 422, sla_values=values, sla_errors=errors
        )
    return current.redirect(f"/admin/services/{slug}?saved=1#sla-h")


# --- business calendars (the SLA's working hours) ----------------------------------------


def _calendar_values(calendar: CalendarOut) -> dict[str, str]:
    """A calendar as the form's fields: `hours_<day>` "09:00-13:00, 14:00-18:00" (blank:
    a day off), `holidays` one date a line."""
    values = {"slug": calendar.slug, "name": calendar.name, "time_zone": calendar.time_zone}
    for day in WEEKDAYS:
        intervals = calendar.hours.get(day, [])
        values[f"hours_{day}"] = ", ".join(f"{a}-{b}" for a, b in intervals)
    values["holidays"] = "\n".join(d.isoformat() for d in calendar.holidays)
    return values


def _calendar_error(error: Any) -> tuple[str, str]:
    """A validation error of CalendarIn as (form field, code of `field_error`)."""
    loc, message = error["loc"], str(error.get("msg", ""))
    if loc and loc[0] == "hours":
        return (f"hours_{loc[1]}" if len(loc) > 1 else "hours"), "hours"
    if loc and loc[0] == "holidays":
        return "holidays", "dates"
    if (loc and loc[0] == "time_zone") or "time zone" in message:
        return "time_zone", "zone"
    if loc and loc[0] in ("name", "slug"):
        kinds = {
            "string_too_short": "required",
            "missing": "required",
            "string_too_long": "too_long",
        }
        return str(loc[0]), kinds.get(error["type"], "slug")
    if "overlap" in message or "not within" in message:
        return "hours", "hours_overlap"
    if "working time" in message:
        return "hours", "no_hours"
    return "hours", "hours"


def _calendar_input(
    fields: dict[str, str], create: bool
) -> tuple[dict[str, str], CalendarIn | None, dict[str, str]]:
    """The form's values, and the API's body made of them or the fields that are wrong."""
    names = ["name", "time_zone", "holidays", *(f"hours_{day}" for day in WEEKDAYS)]
    values = {
        name: fields.get(name, "").strip() for name in (["slug", *names] if create else names)
    }
    errors: dict[str, str] = {}
    hours: dict[str, list[list[str]]] = {}
    for day in WEEKDAYS:
        parts = [p.strip() for p in values[f"hours_{day}"].split(",") if p.strip()]
        pairs = [p.partition("-") for p in parts]
        if any(not dash for _, dash, _ in pairs):
            errors[f"hours_{day}"] = "hours"
        elif pairs:
            hours[day] = [[a.strip(), b.strip()] for a, _, b in pairs]
    body: dict[str, Any] = {
        "name": values["name"],
        "time_zone": values["time_zone"] or "Europe/Moscow",
        "hours": hours,
        "holidays": values["holidays"].replace(",", " ").split(),
    }
    model: type[CalendarIn] = CalendarIn
    if create:
        body["slug"] = values["slug"]
        model = CalendarCreate
    try:
        data = model.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            field, code = _calendar_error(error)
            errors.setdefault(field, code)
        return values, None, errors
    return values, (None if errors else data), errors


def _calendar_params(data: CalendarIn) -> dict[str, object]:
    return {"time_zone": data.time_zone, "days": sorted(data.hours), "holidays": len(data.holidays)}


async def _calendars_page(
    current: Page, session: Session, values: dict[str, str], errors: dict[str, str], code: int
) -> Response:
    return current.render(
        "admin/calendars.html",
        calendars=await sla.list_calendars(session),
        weekdays=WEEKDAYS,
        values=values,
        errors=errors,
        status_code=code,
    )


@router.get("/calendars")
async def calendars_page(current: AdminPage, session: Session) -> Response:
    """Business calendars (the SLA's working hours) and a form to add one."""
    values = {"time_zone": "Europe/Moscow"}
    values.update({f"hours_{day}": "09:00-18:00" for day in WEEKDAYS[:5]})
    return await _calendars_page(current, session, values, {}, 200)


@router.post("/calendars")
async def create_calendar(
    action: Annotated[ActionRecord, Depends(Action("create_calendar"))],
    fields: Form,
    current: AdminPage,
    session: Session,
) -> Response:
    """sla.service.create_calendar, as POST /api/v1/calendars."""
    values, data, errors = _calendar_input(fields, create=True)
    if not isinstance(data, CalendarCreate):
        return await _calendars_page(current, session, values, errors, 422)
    action.set_params({"slug": data.slug, **_calendar_params(data)})
    try:
        await sla.create_calendar(session, data)
    except sla.CalendarExists:
        await session.rollback()  # the failed INSERT left the session to be rolled back
        return await _calendars_page(current, session, values, {"slug": "taken"}, 409)
    return current.redirect(f"/admin/calendars/{data.slug}?saved=1")


async def _calendar_form(
    current: Page,
    session: Session,
    slug: str,
    values: dict[str, str] | None,
    errors: dict[str, str],
    code: int = 200,
) -> Response:
    calendar = await sla.get_calendar(session, slug)
    return current.render(
        "admin/calendar.html",
        calendar=calendar,
        weekdays=WEEKDAYS,
        values=values or _calendar_values(calendar),
        errors=errors,
        status_code=code,
    )


@router.get("/calendars/{slug}")
async def calendar_page(current: AdminPage, session: Session, slug: SlugPath) -> Response:
    return await _calendar_form(current, session, slug, None, {})


@router.post("/calendars/{slug}")
async def replace_calendar(
    action: Annotated[ActionRecord, Depends(Action("replace_calendar"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    slug: SlugPath,
) -> Response:
    """sla.service.replace_calendar, as PUT /api/v1/calendars/{slug}: new hours apply to
    due dates computed from now on."""
    values, data, errors = _calendar_input(fields, create=False)
    if data is None:
        return await _calendar_form(current, session, slug, values, errors, 422)
    action.set_params({"slug": slug, **_calendar_params(data)})
    await sla.replace_calendar(session, slug, data)
    return current.redirect(f"/admin/calendars/{slug}?saved=1")


@router.post("/services/{slug}/team")
async def add_team_member(
    action: Annotated[ActionRecord, Depends(Action("add_agent"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    slug: SlugPath,
) -> Response:
    """Put an agent or admin (by Discord id) on the service's team."""
    discord_id = fields.get("discord_id", "").strip()
    action.set_params({"slug": slug, "discord_id": discord_id})
    try:
        await assignment.add_member(session, slug, discord_id)
    except (assignment.UserNotFound, assignment.NotStaff) as exc:  # an unknown service: 404
        errors = {"discord_id": exc.code}
        values = {"discord_id": discord_id}
        return await _service_form(current, session, slug, None, errors, 422, values)
    return current.redirect(f"/admin/services/{slug}?saved=1#team-h")


@router.post("/services/{slug}/team/{discord_id}/remove")
async def remove_team_member(
    action: Annotated[ActionRecord, Depends(Action("remove_agent"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    slug: SlugPath,
    discord_id: DiscordIdPath,
) -> Response:
    """Take somebody off the team; their assigned tickets stay theirs until reassigned."""
    action.set_params({"slug": slug, "discord_id": discord_id})
    await assignment.remove_member(session, slug, discord_id)
    return current.redirect(f"/admin/services/{slug}?saved=1#team-h")


@router.get("/people")
async def people_page(
    current: AdminPage,
    session: Session,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    people = await users.list_people(session, (q or "").strip() or None)
    return current.render("admin/people.html", people=people, roles=list(Role), q=q or "")


@router.post("/people/{discord_id}/role")
async def set_role(
    action: Annotated[ActionRecord, Depends(Action("set_role"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    discord_id: DiscordIdPath,
) -> Response:
    try:
        role = Role(fields.get("role", ""))
    except ValueError:
        raise Unprocessable("Unknown role", code="validation_error") from None
    action.set_params({"discord_id": discord_id, "role": role.value})
    await users.set_role(session, discord_id, role)
    return current.redirect("/admin/people")


@router.post("/people/{discord_id}/sessions/revoke")
async def revoke_sessions(
    action: Annotated[ActionRecord, Depends(Action("revoke_sessions"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    discord_id: DiscordIdPath,
) -> Response:
    action.set_params({"discord_id": discord_id})
    await users.revoke_sessions(session, discord_id)
    return current.redirect("/admin/people")


@router.get("/deliveries")
async def deliveries_page(
    current: AdminPage,
    session: Session,
    status: Annotated[str, Query(pattern="^(pending|sending|sent|failed|dead)$")] = "dead",
) -> Response:
    """Notifications that gave up (dead) by default, newest first, each with "retry"."""
    rows = await deliveries.deliveries(session, status, 100, None)
    return current.render("admin/deliveries.html", rows=rows[:100], status=status)


@router.post("/deliveries/{delivery_id}/retry")
async def retry_delivery(
    action: Annotated[ActionRecord, Depends(Action("retry_delivery"))],
    fields: Form,
    current: AdminPage,
    session: Session,
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    action.set_params({"delivery_id": delivery_id})
    await notifications.retry_dead(session, delivery_id)
    return current.redirect("/admin/deliveries")
