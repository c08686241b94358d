from __future__ import annotations

import enum
from datetime import datetime

from pydantic import BaseModel, Field


class StatsFormat(enum.StrEnum):
    json = "json"
    csv = "csv"


class Durations(BaseModel):
    """Business-hours durations (seconds) of the tickets measured in the period."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None


class SlaCompliance(BaseModel):
    closed: int = Field(description="Tickets under an SLA closed in the period")
    met: int = Field(description="... of them without an `sla_breached` event")
    compliance_pct: float | None = Field(description="met / closed × 100; null when none")


class Satisfaction(BaseModel):
    count: int = Field(description="Ratings given in the period")
    average: float | None = Field(description="Their mean score (1–5); null when none")


class Figures(BaseModel):
    opened: int = Field(description="Tickets created in [from, to)")
    closed: int = Field(description="Tickets whose (current) close happened in [from, to)")
    backlog: dict[str, int] = Field(
        description="Tickets not closed now, by status (open, processing, waiting), and `total`"
    )
    first_response: Durations
    resolution: Durations
    sla: SlaCompliance
    satisfaction: Satisfaction


class ServiceFigures(Figures):
    service: str = Field(description="Service slug")
    name: str


class AgentFigures(Figures):
    agent: str = Field(description="Discord id of the assignee")
    name: str


class StatsOut(BaseModel):
    period_from: datetime = Field(alias="from")
    period_to: datetime = Field(alias="to")
    services: list[ServiceFigures]
    agents: list[AgentFigures]

    model_config = {"populate_by_name": True}
