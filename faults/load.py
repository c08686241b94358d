"""A bounded load: clients open tickets, move them through the workflow (admin) and list.

Every response is recorded. A client that gets no 2xx re-reads its ticket before the next
change (a change may have committed although the answer was lost), so it never sends a
change the workflow refuses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

CLIENT_TIMEOUT = 10.0
# The admin side of the workflow, as a cycle: open → processing → closed_success → open ...
NEXT_STATUS = {
    "open": "processing",
    "processing": "closed_success",
    "closed_success": "open",
    "closed_fail": "open",
}
CHANGES_PER_TICKET = 3


@dataclass
class Record:
    client: int
    at: float  # seconds since the load started
    kind: str  # open | status | list | get
    status: int | None  # None: no answer (timeout, connection error)
    guid_ticket: str | None = None
    ticket_status: str | None = None
    action_id: str | None = None
    retry_after: str | None = None
    elapsed: float = 0.0  # seconds until the answer (or the error)
    error: str | None = None


class Load:
    def __init__(self, base_url: str, employee: str, admin: str, max_requests: int) -> None:
        self.base_url = base_url
        self.employee = {"Authorization": f"Bearer {employee}"}
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.max_requests = max_requests
        self.records: list[Record] = []
        self.started = time.monotonic()
        self.stop = asyncio.Event()

    def _budget_left(self) -> bool:
        return not self.stop.is_set() and len(self.records) < self.max_requests

    async def _call(
        self,
        client: httpx.AsyncClient,
        n: int,
        kind: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: dict[str, object] | None = None,
    ) -> tuple[Record, dict[str, object] | None]:
        record = Record(client=n, at=time.monotonic() - self.started, kind=kind, status=None)
        self.records.append(record)
        sent = time.monotonic()
        try:
            response = await client.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            record.elapsed = time.monotonic() - sent
            record.error = f"{type(exc).__name__}: {exc}"[:200]
            return record, None
        record.elapsed = time.monotonic() - sent
        record.status = response.status_code
        record.action_id = response.headers.get("X-Action-Id")
        record.retry_after = response.headers.get("Retry-After")
        data = None
        if response.is_success:
            data = response.json()
            if kind in ("open", "status", "get"):
                record.guid_ticket = data.get("guid_ticket")
                record.ticket_status = data.get("status")
        else:
            record.error = response.text[:200]
        return record, data

    async def client(self, n: int, pace: float) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=CLIENT_TIMEOUT) as client:
            while self._budget_left():
                body = {"text": f"fault-suite client {n}\nload", "service": "general"}
                rec, ticket = await self._call(
                    client, n, "open", "POST", "/api/v1/tickets", self.employee, body
                )
                await asyncio.sleep(pace)
                if ticket is None:
                    continue
                guid, status = rec.guid_ticket, rec.ticket_status
                for _ in range(CHANGES_PER_TICKET):
                    if not self._budget_left() or status is None:
                        break
                    rec, changed = await self._call(
                        client,
                        n,
                        "status",
                        "POST",
                        f"/api/v1/tickets/{guid}/status",
                        self.admin,
                        {"status": NEXT_STATUS[status]},
                    )
                    if changed is None:  # resync: the change may or may not have happened
                        await asyncio.sleep(pace)
                        rec, current = await self._call(
                            client, n, "get", "GET", f"/api/v1/tickets/{guid}", self.admin
                        )
                        status = rec.ticket_status if current is not None else None
                    else:
                        status = rec.ticket_status
                    await asyncio.sleep(pace)
                if self._budget_left():
                    await self._call(
                        client, n, "list", "GET", "/api/v1/tickets?limit=20", self.admin
                    )
                    await asyncio.sleep(pace)

    async def run(self, clients: int, pace: float) -> None:
        await asyncio.gather(*(self.client(n, pace) for n in range(clients)))
