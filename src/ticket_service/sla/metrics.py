"""SLA metrics, computed from the database when /metrics is scraped (ops/metrics.py), so
they are the same whichever api replica or worker is asked and survive restarts:

- `sla_breaches_total{service,target}`: breaches recorded (one `sla_breached` event per
  ticket and target, see sla/scanner.py);
- `sla_tickets_at_risk{service}`: tickets with 80% of a target used and not yet missed.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ticket_service.catalog.models import Service
from ticket_service.events.registry import Kind
from ticket_service.ops.metrics import SOURCES
from ticket_service.sla.repository import at_risk
from ticket_service.tickets.models import Ticket, TicketEvent

_TARGET = TicketEvent.data["target"].astext

BREACHES = (
    select(Service.slug, _TARGET, func.count())
    .select_from(TicketEvent)
    .join(Ticket, Ticket.id == TicketEvent.ticket_id)
    .join(Service, Service.id == Ticket.service_id)
    .where(TicketEvent.kind == Kind.sla_breached.value)
    .group_by(Service.slug, _TARGET)
)
AT_RISK = (
    select(Service.slug, func.count(Ticket.id))
    .select_from(Service)
    .outerjoin(Ticket, (Ticket.service_id == Service.id) & at_risk())
    .group_by(Service.slug)
)


async def sla_metrics(conn: AsyncConnection) -> list[Metric]:
    breaches = CounterMetricFamily(
        "sla_breaches", "SLA breaches recorded, by service and target", labels=["service", "target"]
    )
    for service, target, count in await conn.execute(BREACHES):
        breaches.add_metric([service, target], count)
    risk = GaugeMetricFamily(
        "sla_tickets_at_risk",
        "Tickets with 80% of an SLA target used and not yet missed",
        labels=["service"],
    )
    for service, count in await conn.execute(AT_RISK):
        risk.add_metric([service], count)
    return [breaches, risk]


SOURCES["sla"] = sla_metrics
