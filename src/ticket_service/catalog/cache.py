"""Active services by slug, remembered in-process for CATALOG_CACHE_SECONDS: opening a
ticket needs its service (id, assignment mode, channels) and the priorities its SLA has a
policy for, and should not pay a database round trip for rows that change a few times a
year. A ticket of a priority without a policy then needs no SLA read at all.

- Entries are column snapshots; each request gets its own Service, attached to its own
  session as if it had loaded it (`db.revive`).
- A change to any service or SLA policy made through the ORM empties this process's cache
  once its transaction commits; other api processes see it within CATALOG_CACHE_SECONDS.
  What may be stale for that long: a service just deactivated still takes tickets there,
  a changed channel override applies to events of those seconds, and a ticket of a
  priority that just got its first policy opens under none. Automatic assignment re-reads
  the service's mode under its row lock, and a ticket under a policy reads the policy
  itself (sla.repository.context_of), so neither is ever stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

from ticket_service.catalog.models import Service
from ticket_service.db import after_commit, revive, snapshot
from ticket_service.sla.models import SlaPolicy

SESSION_KEY = "catalog_cache"


class Offer(NamedTuple):
    """An active service as a new ticket needs it."""

    service: Service
    # The priorities the service's SLA has an active policy for.
    sla_priorities: frozenset[str]


class ServiceCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any], frozenset[str]]] = {}

    def lookup(self, session: AsyncSession, slug: str) -> Offer | None:
        entry = self._entries.get(slug)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return None
        service: Service = revive(Service, entry[1])
        session.add(service)
        return Offer(service, entry[2])

    def remember(self, offer: Offer, read_at: float) -> None:
        """`read_at`: `self.clock()` when the read began."""
        if self.ttl > 0 and offer.service.is_active:
            entry = (read_at, snapshot(offer.service), offer.sla_priorities)
            self._entries[offer.service.slug] = entry

    def clear(self) -> None:
        self._entries.clear()


def cache_of(session: AsyncSession) -> ServiceCache | None:
    cache: ServiceCache | None = session.info.get(SESSION_KEY)
    return cache


@event.listens_for(OrmSession, "after_flush")
def _services_changed(session: OrmSession, flush_context: Any) -> None:
    cache: ServiceCache | None = session.info.get(SESSION_KEY)
    if cache is None:
        return
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Service | SlaPolicy) for obj in changed):

        async def forget() -> None:
            cache.clear()

        after_commit(session, forget)
