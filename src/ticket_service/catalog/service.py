from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ticket_service.catalog import repository
from ticket_service.catalog.models import Service
from ticket_service.catalog.schemas import (
    NULLABLE_FIELDS,
    URL_FIELDS,
    ServiceCreate,
    ServiceUpdate,
)
from ticket_service.errors import Conflict, NotFound, Unprocessable
from ticket_service.kit.outbound import OutboundPolicy, OutboundRefused


async def create(session: AsyncSession, data: ServiceCreate) -> Service:
    service = Service(
        slug=data.slug,
        name=data.name,
        description=data.description,
        is_active=True,
        assignment=data.assignment.value,
    )
    session.add(service)
    try:
        await session.flush()
    except IntegrityError as exc:  # the unique slug, also under a concurrent create
        raise Conflict(f"Service {data.slug!r} already exists", code="service_exists") from exc
    await session.refresh(service)
    return service


async def _check_urls(changes: dict[str, object], policy: OutboundPolicy) -> None:
    """The set-time check of webhook URLs (deliveries check again before each call)."""
    for field in sorted(URL_FIELDS):
        url = changes.get(field)
        if isinstance(url, str):
            try:
                await policy.check(url)
            except OutboundRefused as exc:
                raise Unprocessable(
                    f"{field} is refused: {exc}",
                    code="url_refused",
                    details={"field": field, "reason": str(exc)},
                ) from exc


async def update(
    session: AsyncSession, slug: str, data: ServiceUpdate, policy: OutboundPolicy
) -> Service:
    changes = data.model_dump(exclude_unset=True)
    await _check_urls(changes, policy)  # before any lock: it may wait for DNS
    service = await repository.by_slug(session, slug)
    if service is None:
        raise NotFound(f"No service {slug!r}", code="service_not_found")
    for field, value in changes.items():
        if value is not None or field in NULLABLE_FIELDS:
            setattr(service, field, value)
    await session.flush()
    await session.refresh(service)
    return service
