"""What must hold after the faults: answers, durability, deliveries, an empty queue."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import psycopg

from faults.load import Record
from ticket_service.notifications.recipients import url_key


@dataclass
class Check:
    name: str
    expected: str
    actual: str
    ok: bool


def wait_drained(database_url: str, timeout: float = 90) -> float:
    """Seconds until no job is todo/doing and no delivery pending/sending/failed (bounded)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with psycopg.connect(database_url, autocommit=True) as conn:
            jobs = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            ).fetchone()
            deliveries = conn.execute(
                "SELECT count(*) FROM notification_deliveries"
                " WHERE status IN ('pending', 'sending', 'failed')"
            ).fetchone()
        if jobs == (0,) and deliveries == (0,):
            return time.monotonic() - started
        time.sleep(0.5)
    return time.monotonic() - started


def check_answers(records: list[Record]) -> list[Check]:
    counts = Counter(r.status for r in records)
    bad = {s: c for s, c in counts.items() if s is None or not (200 <= s < 300 or s == 503)}
    spread = ", ".join(f"{s or 'no answer'}:{c}" for s, c in sorted(counts.items(), key=str))
    unavailable = [r for r in records if r.status == 503]
    without_retry_after = sum(1 for r in unavailable if not r.retry_after)
    slowest_503 = max((r.elapsed for r in unavailable), default=0.0)
    return [
        Check(
            "every request answered 2xx/503",
            "0 other",
            f"{sum(bad.values())} other ({spread})",
            not bad,
        ),
        Check(
            "every 503 has Retry-After",
            "0 without",
            f"{without_retry_after} without",
            without_retry_after == 0,
        ),
        Check(
            "503 answered within 2 s",
            "<= 2.0 s",
            f"slowest {slowest_503:.2f} s",
            slowest_503 <= 2.0,
        ),
    ]


def check_durability(records: list[Record], conn: psycopg.Connection) -> list[Check]:
    opened = {r.guid_ticket: r.action_id for r in records if r.kind == "open" and r.guid_ticket}
    changes = {
        r.action_id: (r.guid_ticket, r.ticket_status)
        for r in records
        if r.kind == "status" and r.status == 200
    }
    found = {
        str(row[0])
        for row in conn.execute(
            "SELECT id FROM tickets WHERE id = ANY(%s::uuid[])", (list(opened),)
        )
    }
    # Only the status events: a change that takes the ticket into work also writes an
    # `assigned` event under the same guid_action, and which of the two a plain scan
    # returns last depends on where PostgreSQL put the rows.
    events = {
        str(row[0]): (str(row[1]), row[2])
        for row in conn.execute(
            "SELECT guid_action, ticket_id, to_status FROM ticket_events"
            " WHERE kind = 'status_changed' AND guid_action = ANY(%s::uuid[])",
            (list(changes),),
        )
    }
    missing_changes = [
        a for a, (guid, status) in changes.items() if events.get(a) != (guid, status)
    ]
    return [
        Check(
            "acknowledged tickets in PostgreSQL",
            f"{len(opened)}",
            f"{len(found)}",
            len(found) == len(opened),
        ),
        Check(
            "acknowledged changes in ticket_events",
            f"{len(changes)}",
            f"{len(changes) - len(missing_changes)}",
            not missing_changes,
        ),
    ]


def check_deliveries(
    conn: psycopg.Connection, receiver_url: str, received: Counter[str]
) -> tuple[list[Check], int]:
    rows = conn.execute(
        "SELECT e.id, count(d.id) FILTER (WHERE d.status = 'sent'), count(d.id)"
        " FROM ticket_events e LEFT JOIN notification_deliveries d"
        " ON d.event_id = e.id AND d.channel = 'webhook' AND d.recipient = %s"
        " GROUP BY e.id",
        (url_key(receiver_url),),
    ).fetchall()
    not_once = [r[0] for r in rows if r[1] != 1 or r[2] != 1]
    unreceived = [r[0] for r in rows if received[str(r[0])] < 1]
    duplicates = sum(c - 1 for c in received.values() if c > 1)
    return [
        Check(
            "each event: exactly 1 sent delivery",
            f"{len(rows)} events",
            f"{len(rows) - len(not_once)} ok",
            not not_once,
        ),
        Check(
            "receiver got every event id",
            f"{len(rows)}",
            f"{len(rows) - len(unreceived)} (+{duplicates} dup)",
            not unreceived,
        ),
    ], duplicates


def check_queue(conn: psycopg.Connection) -> list[Check]:
    jobs = conn.execute(
        "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
    ).fetchone()
    stuck = conn.execute(
        "SELECT status, count(*) FROM notification_deliveries"
        " WHERE status IN ('pending', 'sending', 'failed', 'dead') GROUP BY status"
    ).fetchall()
    n_jobs = jobs[0] if jobs else -1
    return [
        Check("no job todo/doing after drain", "0", str(n_jobs), n_jobs == 0),
        Check(
            "no delivery pending/sending/failed/dead",
            "0",
            ", ".join(f"{s}:{c}" for s, c in stuck) or "0",
            not stuck,
        ),
    ]
