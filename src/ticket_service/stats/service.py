"""The statistics rule: who may see which services' numbers, over which period, and how
each number is defined (README "Are people happy? What did we miss?").

- opened: tickets created in [from, to); closed: tickets whose close (`closed_at`, the
  latest one; a reopened ticket is not closed) falls in [from, to);
- backlog: tickets not closed at the moment of the request, by status, whatever the period;
- first response: for tickets first answered in [from, to), the business time from their
  creation to the first public reply by staff or the first move to `processing` by staff,
  whichever came first; resolution: for tickets closed in [from, to), the business time
  from creation to close. Median and 90th percentile as PostgreSQL's `percentile_cont`
  (linear interpolation), in seconds;
- SLA compliance: of the tickets under an SLA closed in [from, to), the share without an
  `sla_breached` event;
- satisfaction: the ratings given in [from, to), their count and mean score.

Per agent means per assignee (now) of the tickets counted, across the services in scope.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.catalog.models import Service
from ticket_service.errors import BadRequest, Forbidden, NotFound
from ticket_service.sla.calendar import business_seconds
from ticket_service.sla.service import calendar_of
from ticket_service.stats import repository
from ticket_service.stats.repository import Period, Span
from ticket_service.stats.schemas import (
    AgentFigures,
    Durations,
    Figures,
    Satisfaction,
    ServiceFigures,
    SlaCompliance,
    StatsOut,
)
from ticket_service.users.models import Role, User, display_name
from ticket_service.vocabulary import Status

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=366)
BACKLOG_STATUSES = [s.value for s in Status if not s.is_closed]


class StaffOnly(Forbidden):
    code = "staff_only"
    message = "Statistics are for agents and admins"


class NotYourService(Forbidden):
    code = "not_your_service"
    message = "Agents see the statistics of their own teams' services only"


class UnknownService(NotFound):
    code = "unknown_service"
    message = "No such service"


class InvalidPeriod(BadRequest):
    code = "invalid_period"
    message = "`from` must be before `to`, at most 366 days apart"


def period_of(start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """[from, to), in UTC: `to` defaults to now, `from` to 30 days before `to`; a time
    without a zone is UTC."""
    try:
        end = _aware(end) if end else now
        start = _aware(start) if start else end - DEFAULT_PERIOD
    except OverflowError:  # e.g. 0001-01-01T00:00+03:00 is before the first UTC instant
        raise InvalidPeriod() from None
    if not start < end or end - start > MAX_PERIOD:
        raise InvalidPeriod(details={"from": start.isoformat(), "to": end.isoformat()})
    return Period(start, end)


def _aware(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


async def scope(session: AsyncSession, user: User, slug: str | None) -> list[Service]:
    """The services whose numbers this person may see: all for admins, their teams' for
    agents (another service, even one that does not exist, is 403), none for employees."""
    role = user.role_enum
    if not role.is_staff:
        raise StaffOnly()
    found = await repository.services(session, slug)
    if role is Role.admin:
        if slug is not None and not found:
            raise UnknownService(details={"service": slug})
        return found
    mine = await repository.team_service_ids(session, user.id)
    if slug is not None and (not found or found[0].id not in mine):
        raise NotYourService(details={"service": slug})
    return [service for service in found if service.id in mine]


def percentile_cont(ordered: list[float], fraction: float) -> float | None:
    """PostgreSQL's percentile_cont over sorted values: linear interpolation between the
    two nearest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 1)


def _durations(values: list[int]) -> Durations:
    ordered = sorted(float(v) for v in values)
    return Durations(
        count=len(ordered),
        median_seconds=percentile_cont(ordered, 0.5),
        p90_seconds=percentile_cont(ordered, 0.9),
    )


@dataclass
class _Tally:
    opened: int = 0
    closed: int = 0
    backlog: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BACKLOG_STATUSES, 0))
    first_response: list[int] = field(default_factory=list)
    resolution: list[int] = field(default_factory=list)
    sla_closed: int = 0
    sla_met: int = 0
    ratings: int = 0
    score_sum: int = 0

    def figures(self) -> dict[str, Any]:
        return dict(
            Figures(
                opened=self.opened,
                closed=self.closed,
                backlog={**self.backlog, "total": sum(self.backlog.values())},
                first_response=_durations(self.first_response),
                resolution=_durations(self.resolution),
                sla=SlaCompliance(
                    closed=self.sla_closed,
                    met=self.sla_met,
                    compliance_pct=(
                        round(100 * self.sla_met / self.sla_closed, 1) if self.sla_closed else None
                    ),
                ),
                satisfaction=Satisfaction(
                    count=self.ratings,
                    average=round(self.score_sum / self.ratings, 2) if self.ratings else None,
                ),
            )
        )


class _Tallies:
    """One tally per service and one per assignee, fed by the same rows."""

    def __init__(self) -> None:
        self.services: dict[int, _Tally] = defaultdict(_Tally)
        self.agents: dict[int, _Tally] = defaultdict(_Tally)

    def of(self, service_id: int, assignee_id: int | None) -> Iterable[_Tally]:
        yield self.services[service_id]
        if assignee_id is not None:
            yield self.agents[assignee_id]


async def statistics(
    session: AsyncSession,
    user: User,
    start: datetime | None,
    end: datetime | None,
    slug: str | None,
) -> StatsOut:
    period = period_of(start, end, datetime.now(UTC))
    services = await scope(session, user, slug)
    ids = [service.id for service in services]
    tallies = _Tallies()
    for service_id in ids:
        tallies.services[service_id] = _Tally()  # a service with nothing is a row of zeros
    if ids:
        await _count(session, ids, period, tallies)
        await _measure(session, services, period, tallies)
    people = {p.id: p for p in await repository.people(session, set(tallies.agents))}
    return StatsOut(
        period_from=period.start,
        period_to=period.end,
        services=[
            ServiceFigures(service=s.slug, name=s.name, **tallies.services[s.id].figures())
            for s in services
        ],
        agents=sorted(
            (
                AgentFigures(
                    agent=people[agent_id].discord_id,
                    name=display_name(people[agent_id]),
                    **tally.figures(),
                )
                for agent_id, tally in tallies.agents.items()
            ),
            key=lambda row: (row.name.casefold(), row.agent),
        ),
    )


async def _count(session: AsyncSession, ids: list[int], period: Period, tallies: _Tallies) -> None:
    for (service_id, assignee_id), n in (
        await repository.count_in(session, "created_at", ids, period)
    ).items():
        for tally in tallies.of(service_id, assignee_id):
            tally.opened += n
    for (service_id, assignee_id), n in (
        await repository.count_in(session, "closed_at", ids, period)
    ).items():
        for tally in tallies.of(service_id, assignee_id):
            tally.closed += n
    for (service_id, assignee_id, status), n in (await repository.backlog(session, ids)).items():
        for tally in tallies.of(service_id, assignee_id):
            tally.backlog[status] += n
    for (service_id, assignee_id), (closed, met) in (
        await repository.sla_outcomes(session, ids, period)
    ).items():
        for tally in tallies.of(service_id, assignee_id):
            tally.sla_closed += closed
            tally.sla_met += met
    for (service_id, assignee_id), (count, total) in (
        await repository.ratings(session, ids, period)
    ).items():
        for tally in tallies.of(service_id, assignee_id):
            tally.ratings += count
            tally.score_sum += total


async def _measure(
    session: AsyncSession, services: list[Service], period: Period, tallies: _Tallies
) -> None:
    """Durations in each service's business calendar, computed here (the calendar's
    arithmetic is Python), over only the tickets of the period."""
    ids = [service.id for service in services]
    calendars = {service.id: await calendar_of(session, service.id) for service in services}

    def seconds(span: Span) -> int:
        return business_seconds(calendars[span.service_id], span.start, span.end)

    for span in await repository.first_responses(session, ids, period):
        for tally in tallies.of(span.service_id, span.assignee_id):
            tally.first_response.append(seconds(span))
    for span in await repository.resolutions(session, ids, period):
        for tally in tallies.of(span.service_id, span.assignee_id):
            tally.resolution.append(seconds(span))


CSV_COLUMNS = [
    "scope",
    "service",
    "agent",
    "name",
    "opened",
    "closed",
    *(f"backlog_{status}" for status in BACKLOG_STATUSES),
    "backlog_total",
    "first_response_count",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_count",
    "resolution_median_seconds",
    "resolution_p90_seconds",
    "sla_closed",
    "sla_met",
    "sla_compliance_pct",
    "satisfaction_count",
    "satisfaction_average",
]


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    # A name a spreadsheet would run as a formula (CSV injection) is kept as text.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _flat(figures: Figures) -> dict[str, object]:
    row: dict[str, object] = {"opened": figures.opened, "closed": figures.closed}
    row.update({f"backlog_{status}": n for status, n in figures.backlog.items()})
    for name in ("first_response", "resolution"):
        durations: Durations = getattr(figures, name)
        row[f"{name}_count"] = durations.count
        row[f"{name}_median_seconds"] = durations.median_seconds
        row[f"{name}_p90_seconds"] = durations.p90_seconds
    row["sla_closed"] = figures.sla.closed
    row["sla_met"] = figures.sla.met
    row["sla_compliance_pct"] = figures.sla.compliance_pct
    row["satisfaction_count"] = figures.satisfaction.count
    row["satisfaction_average"] = figures.satisfaction.average
    return row


def as_csv(stats: StatsOut) -> str:
    """The same numbers, one row per service, then one per agent, under a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for service in stats.services:
        row = {"scope": "service", "service": service.service, "name": service.name}
        writer.writerow({k: _cell(v) for k, v in {**row, **_flat(service)}.items()})
    for agent in stats.agents:
        row = {"scope": "agent", "agent": agent.agent, "name": agent.name}
        writer.writerow({k: _cell(v) for k, v in {**row, **_flat(agent)}.items()})
    return out.getvalue()
