"""What the API shows of SLAs: the `sla` field of every ticket, calendars and policies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from ticket_service.kit.schemas import CleanText, RequestModel
from ticket_service.sla.calendar import WEEKDAYS, BusinessCalendar, CalendarError
from ticket_service.vocabulary import Priority, SlaTarget, Status

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")]
# [start, end]: a list, not a tuple (OpenAPI 3.0 tools do not read `prefixItems`).
Interval = Annotated[list[HHMM], Field(min_length=2, max_length=2)]
# A year in minutes: more is a typo, and it keeps the arithmetic within int32 seconds.
MAX_MINUTES = 366 * 24 * 60


class SlaOut(BaseModel):
    """A ticket's SLA as of the database's clock at the moment it was read (or changed)."""

    first_response_due_at: datetime | None = Field(
        description="When the first public staff reply (or the move to processing) is due"
    )
    first_response_at: datetime | None = Field(description="When it came; null until then")
    resolution_due_at: datetime | None = Field(
        description="When the resolution target is used up; null while paused or closed"
    )
    paused: bool = Field(description="The resolution clock is paused: `waiting` for the author")
    breached: list[SlaTarget] = Field(description="Targets missed so far")
    at_risk: bool = Field(
        default=False,
        description="80% of a running target used and none missed yet (the `sla=at_risk` "
        "filter's rule)",
    )
    remaining_seconds: int | None = Field(
        description="Running: seconds until resolution_due_at (negative: overdue by). "
        "Paused: business seconds of the resolution target left. Closed: null"
    )


def sla_view(ticket: Any, now: datetime) -> SlaOut | None:
    """The `sla` field of a ticket (an entity or a row with its SLA columns) at `now`, a
    database instant. None: the ticket is under no SLA."""
    if getattr(ticket, "sla_policy_id", None) is None:
        return None
    breached: list[SlaTarget] = []
    first_due = ticket.first_response_due_at
    answered_by = ticket.first_response_at or ticket.closed_at or now
    if first_due is not None and answered_by > first_due:
        breached.append(SlaTarget.first_response)
    running = ticket.sla_clock_started_at is not None
    target = ticket.sla_resolution_seconds or 0
    remaining: int | None
    if running and ticket.resolution_due_at is not None:
        remaining = int((ticket.resolution_due_at - now).total_seconds())
        over = now >= ticket.resolution_due_at
    else:
        over = ticket.sla_used_seconds >= target
        remaining = None if ticket.closed_at is not None else target - ticket.sla_used_seconds
    if over:
        breached.append(SlaTarget.resolution)
    return SlaOut(
        at_risk=not breached and _warned(ticket, now, running),
        first_response_due_at=first_due,
        first_response_at=ticket.first_response_at,
        resolution_due_at=ticket.resolution_due_at if running else None,
        paused=not running and ticket.status == Status.waiting.value,
        breached=breached,
        remaining_seconds=remaining,
    )


def _warned(ticket: Any, now: datetime, running: bool) -> bool:
    """sla.repository.at_risk for one ticket: a running clock past its warning instant."""
    first_warn = getattr(ticket, "first_response_warn_at", None)
    unanswered = ticket.first_response_at is None and ticket.closed_at is None
    if unanswered and first_warn is not None and first_warn <= now:
        return True
    resolution_warn = getattr(ticket, "resolution_warn_at", None)
    return running and resolution_warn is not None and resolution_warn <= now


# --- calendars ---------------------------------------------------------------------------


class CalendarIn(RequestModel):
    """A business calendar: local working hours per weekday (`mon`..`sun`; a day left out
    is a day off; `24:00` ends at midnight), holidays as dates, in an IANA time zone."""

    name: Annotated[CleanText, Field(min_length=1, max_length=200)]
    time_zone: str = Field(default="Europe/Moscow", max_length=64, examples=["Europe/Moscow"])
    hours: dict[str, list[Interval]] = Field(
        description='e.g. {"mon": [["09:00", "13:00"], ["14:00", "18:00"]]}',
        max_length=7,
    )
    holidays: list[date] = Field(default_factory=list, max_length=1000)

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "name": "Москва, пятидневка",
                    "time_zone": "Europe/Moscow",
                    "hours": {d: [["09:00", "18:00"]] for d in WEEKDAYS[:5]},
                    "holidays": ["2027-01-01", "2027-01-07"],
                }
            ]
        },
    }

    @field_validator("hours")
    @classmethod
    def _days(cls, value: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        for intervals in value.values():
            if len(intervals) > 24:
                raise ValueError("at most 24 working intervals a day")
        return value

    @model_validator(mode="after")
    def _usable(self) -> CalendarIn:
        self.calendar()  # a bad zone or overlapping hours are a 422, like any bad field
        return self

    def calendar(self) -> BusinessCalendar:
        try:
            hours = {day: [(a, b) for a, b in intervals] for day, intervals in self.hours.items()}
            return BusinessCalendar.from_hours(self.time_zone, hours, holidays=self.holidays)
        except CalendarError as exc:
            raise ValueError(str(exc)) from exc


class CalendarCreate(CalendarIn):
    slug: Slug


class CalendarOut(BaseModel):
    slug: str
    name: str
    time_zone: str
    hours: dict[str, list[list[str]]]
    holidays: list[date]
    updated_at: datetime | None = None


class CalendarList(BaseModel):
    items: list[CalendarOut]


# --- a service's SLA ---------------------------------------------------------------------


class PolicyIn(BaseModel):
    priority: Priority
    first_response_minutes: int = Field(gt=0, le=MAX_MINUTES, description="Business minutes")
    resolution_minutes: int = Field(gt=0, le=MAX_MINUTES, description="Business minutes")

    model_config = {"extra": "forbid"}


class ServiceSlaIn(RequestModel):
    """The whole SLA of a service: the policies listed replace the ones it had (a priority
    left out has no SLA for new tickets; tickets already open keep theirs)."""

    calendar: Slug | None = Field(
        description="A calendar's slug; null: the default (Europe/Moscow, Mon-Fri 09:00-18:00)"
    )
    auto_close_days: int = Field(
        default=7, ge=0, le=365, description="Close a ticket waiting this long; 0: never"
    )
    policies: list[PolicyIn] = Field(max_length=len(Priority))

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "calendar": "msk-5x9",
                    "auto_close_days": 7,
                    "policies": [
                        {
                            "priority": "urgent",
                            "first_response_minutes": 30,
                            "resolution_minutes": 240,
                        },
                        {
                            "priority": "normal",
                            "first_response_minutes": 240,
                            "resolution_minutes": 2700,
                        },
                    ],
                }
            ]
        },
    }

    @field_validator("policies")
    @classmethod
    def _one_per_priority(cls, value: list[PolicyIn]) -> list[PolicyIn]:
        priorities = [p.priority for p in value]
        if len(set(priorities)) != len(priorities):
            raise ValueError("one policy per priority")
        return value


class ServiceSlaOut(BaseModel):
    service: str
    calendar: CalendarOut = Field(description="The calendar in force (the default if none set)")
    calendar_is_default: bool
    auto_close_days: int
    policies: list[PolicyIn]
