"""v1 statistics: the team lead's morning numbers, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from ticket_service.auth.dependencies import CurrentUser
from ticket_service.db import Session
from ticket_service.errors import responses
from ticket_service.ops.action_log import Action, ActionRecord
from ticket_service.stats import service
from ticket_service.stats.schemas import StatsFormat, StatsOut
from ticket_service.tickets.dependencies import IsoDateTime
from ticket_service.tickets.schemas import ServiceSlug

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get(
    "",
    summary="Statistics per service and per agent (staff)",
    response_model=StatsOut,
    responses={**CSV, **responses(400, 401, 403, 404, 422)},
)
async def get_stats(
    action: Annotated[ActionRecord, Depends(Action("get_stats"))],
    user: CurrentUser,
    session: Session,
    period_from: Annotated[
        IsoDateTime | None,
        Query(alias="from", description="Start, inclusive (ISO 8601; UTC without a zone)"),
    ] = None,
    period_to: Annotated[
        IsoDateTime | None, Query(alias="to", description="End, exclusive; default now")
    ] = None,
    service_slug: Annotated[
        ServiceSlug | None, Query(alias="service", description="One service; default all yours")
    ] = None,
    output: Annotated[StatsFormat, Query(alias="format")] = StatsFormat.json,
) -> StatsOut | Response:
    """Tickets opened and closed in [from, to) (default: the last 30 days), the backlog by
    status now, median and 90th-percentile first-response and resolution times in business
    hours of each service's calendar, SLA compliance, and satisfaction (ratings given in the
    period), per service and per agent (assignee). Admins see every service; agents their
    teams' services (another: 403 `not_your_service`); employees: 403 `staff_only`.
    `format=csv`: the same numbers, one row per service then per agent."""
    action.set_params(
        {
            "from": period_from.isoformat() if period_from else None,
            "to": period_to.isoformat() if period_to else None,
            "service": service_slug,
            "format": output.value,
        }
    )
    stats = await service.statistics(session, user, period_from, period_to, service_slug)
    if output is StatsFormat.csv:
        name = f"stats-{stats.period_from:%Y%m%d}-{stats.period_to:%Y%m%d}.csv"
        return Response(
            service.as_csv(stats),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return stats
