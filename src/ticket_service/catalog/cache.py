"""Active services by slug, remembered in-process for CATALOG_CACHE_SECONDS: opening a
ticket needs its service (id, assignment mode, channels) and should not pay a database
round trip for a row that changes a few times a year.

- Entries are column snapshots; each request gets its own Service, attached to its own
  session as if it had loaded it (`db.revive`).
- A change to any service made through the ORM empties this process's cache once its
  transaction commits; other api processes see it within CATALOG_CACHE_SECONDS. What may
  be stale for that long: a service just deactivated still takes tickets there, and a
  changed channel override applies to events of those seconds. Automatic assignment
  re-reads the service's mode under its row lock, so it is never stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session as OrmSession

from ticket_service.catalog.models import Service
from ticket_service.db import after_commit, revive, snapshot

SESSION_KEY = "catalog_cache"


class ServiceCache:
    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}

    def lookup(self, session: AsyncSession, slug: str) -> Service | None:
        entry = self._entries.get(slug)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            return None
        service: Service = revive(Service, entry[1])
        session.add(service)
        return service

    def remember(self, service: Service, read_at: float) -> None:
        """`read_at`: `self.clock()` when the read began."""
        if self.ttl > 0 and service.is_active:
            self._entries[service.slug] = (read_at, snapshot(service))

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
    if any(isinstance(obj, Service) for obj in changed):

        async def forget() -> None:
            cache.clear()

        after_commit(session, forget)
