"""Statistics against numbers computed by hand on a fixed data set.

The data set is laid down in SQL with fixed timestamps (Moscow time, UTC+3, no DST) in
the week of Monday 2026-11-02; the period asked for is that week, [Mon 00:00, next Mon
00:00). Business hours are the default calendar's: Monday to Friday 09:00-18:00 Moscow.

Service `general` (agent A = 2001), `it` (agent B = 2002); FR = first response by staff:

| ticket | opened          | first response by staff        | closed            | now        | rated
|--------|-----------------|--------------------------------|-------------------|------------|------
| G1 (A) | Fri 10-30 17:00 | reply Mon 10:00: 2 h           | Mon 12:00: 4 h    | closed     | 5 Mon
| G2 (A) | Mon 09:30       | processing Mon 11:00: 1.5 h    | Tue 10:00: 9.5 h  | closed     | 3 Tue
| G3 (A) | Wed 20:00       | reply Thu 09:15: 15 min (1)    |                   | waiting    |
| G4     | Sat 12:00       |                                |                   | open       |
| G5 (A) | Thu 10:00       | processing Thu 14:00: 4 h      |                   | processing |
| G6 (A) | Tue 10-20       | before the period              | Sun 10-25         | closed     | 4 Wed
| G7     | Fri 16:00       | none (the author withdrew it)  | Fri 17:00: 1 h    | closed     |
| I1 (B) | Mon 10:00       | processing Mon 10:30: 30 min   | Wed 10:00: 18 h   | closed     | 1 Wed
| I2     | Sun 22:00       |                                |                   | open       |
| I3 (B) | Tue 09:00       | processing next Mon (after)    |                   | processing |

(1) The author's own reply on Thu 08:00 is no response.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conversation.conftest import SQL
from tests.factories import auth_headers, join_team
from tests.tickets.conftest import People
from ticket_service.users.models import Role

FROM, TO = "2026-11-02T00:00:00+03:00", "2026-11-09T00:00:00+03:00"
PERIOD = {"from": FROM, "to": TO}
A, B = "2001", "2002"
MSK = "+03:00"


class Data:
    def __init__(self, sql: SQL) -> None:
        self.sql = sql

    def user(self, discord_id: str) -> int:
        [(user_id,)] = self.sql("SELECT id FROM users WHERE discord_id = %s", discord_id)
        return int(user_id)

    def ticket(
        self,
        service: str,
        status: str,
        opened: str,
        *,
        closed: str | None = None,
        assignee: str | None = None,
    ) -> str:
        guid = str(uuid.uuid4())
        self.sql(
            "INSERT INTO tickets (id, title, text, status, priority, service_id, author_id,"
            " assignee_id, created_at, updated_at, closed_at, version)"
            " SELECT %s, 'T', 'T', %s, 'normal', s.id, %s, %s, %s, %s, %s, 1"
            " FROM services s WHERE s.slug = %s",
            guid,
            status,
            self.user("1001"),
            self.user(assignee) if assignee else None,
            opened + MSK,
            (closed or opened) + MSK,
            closed + MSK if closed else None,
            service,
        )
        self.event(guid, "opened", "1001", opened, to_status="open")
        return guid

    def event(
        self, guid: str, kind: str, actor: str, at: str, *, to_status: str | None = None
    ) -> None:
        self.sql(
            "INSERT INTO ticket_events (ticket_id, kind, actor_id, to_status, data, created_at)"
            " VALUES (%s, %s, %s, %s, '{}', %s)",
            guid,
            kind,
            self.user(actor),
            to_status,
            at + MSK,
        )

    def rating(self, guid: str, score: int, at: str) -> None:
        self.sql(
            "INSERT INTO ticket_ratings (ticket_id, author_id, score, created_at)"
            " VALUES (%s, %s, %s, %s)",
            guid,
            self.user("1001"),
            score,
            at + MSK,
        )


@pytest.fixture
async def week(app: FastAPI, client: httpx.AsyncClient, people: People, sql: SQL) -> People:
    """The data set of the module's docstring."""
    created = await client.post(
        "/api/v1/services", json={"slug": "it", "name": "IT"}, headers=people.admin.headers
    )
    assert created.status_code == 201, created.text
    await auth_headers(app, B, Role.agent)
    await join_team(app, B, "it")
    d = Data(sql)

    g1 = d.ticket("general", "closed_success", "2026-10-30 17:00", closed="2026-11-02 12:00",
                  assignee=A)  # fmt: skip
    d.event(g1, "commented", A, "2026-11-02 10:00")
    d.event(g1, "status_changed", A, "2026-11-02 12:00", to_status="closed_success")
    d.rating(g1, 5, "2026-11-02 13:00")

    g2 = d.ticket("general", "closed_success", "2026-11-02 09:30", closed="2026-11-03 10:00",
                  assignee=A)  # fmt: skip
    d.event(g2, "status_changed", A, "2026-11-02 11:00", to_status="processing")
    d.event(g2, "commented", A, "2026-11-02 11:30")
    d.rating(g2, 3, "2026-11-03 12:00")

    g3 = d.ticket("general", "waiting", "2026-11-04 20:00", assignee=A)
    d.event(g3, "commented", "1001", "2026-11-05 08:00")  # the author: no response
    d.event(g3, "commented", A, "2026-11-05 09:15")
    d.event(g3, "status_changed", A, "2026-11-05 09:16", to_status="waiting")

    d.ticket("general", "open", "2026-11-07 12:00")  # G4

    g5 = d.ticket("general", "processing", "2026-11-05 10:00", assignee=A)
    d.event(g5, "status_changed", A, "2026-11-05 14:00", to_status="processing")

    g6 = d.ticket("general", "closed_success", "2026-10-20 10:00", closed="2026-10-25 10:00",
                  assignee=A)  # fmt: skip
    d.event(g6, "status_changed", A, "2026-10-20 11:00", to_status="processing")
    d.rating(g6, 4, "2026-11-04 09:00")

    g7 = d.ticket("general", "closed_fail", "2026-11-06 16:00", closed="2026-11-06 17:00")
    d.event(g7, "status_changed", "1001", "2026-11-06 17:00", to_status="closed_fail")

    i1 = d.ticket("it", "closed_success", "2026-11-02 10:00", closed="2026-11-04 10:00",
                  assignee=B)  # fmt: skip
    d.event(i1, "status_changed", B, "2026-11-02 10:30", to_status="processing")
    d.event(i1, "status_changed", B, "2026-11-04 10:00", to_status="closed_success")
    d.rating(i1, 1, "2026-11-04 11:00")

    d.ticket("it", "open", "2026-11-08 22:00")  # I2

    i3 = d.ticket("it", "processing", "2026-11-03 09:00", assignee=B)
    d.event(i3, "status_changed", B, "2026-11-09 09:30", to_status="processing")
    return people


def durations(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "median_seconds": median, "p90_seconds": p90}


NO_SLA = {"closed": 0, "met": 0, "compliance_pct": None}

GENERAL = {
    "service": "general",
    "opened": 5,  # G2, G3, G4, G5, G7
    "closed": 3,  # G1, G2, G7
    "backlog": {"open": 1, "processing": 1, "waiting": 1, "total": 3},
    # 900, 5400, 7200, 14400: median between 5400 and 7200; p90 at rank 2.7.
    "first_response": durations(4, 6300.0, 12240.0),
    # 3600, 14400, 34200: p90 at rank 1.8 = 14400 + 0.8 × 19800.
    "resolution": durations(3, 14400.0, 30240.0),
    "sla": NO_SLA,
    "satisfaction": {"count": 3, "average": 4.0},  # 5, 3 and G6's 4 (given this week)
}
IT = {
    "service": "it",
    "opened": 3,
    "closed": 1,
    "backlog": {"open": 1, "processing": 1, "waiting": 0, "total": 2},
    "first_response": durations(1, 1800.0, 1800.0),  # I3's came after the period
    "resolution": durations(1, 64800.0, 64800.0),  # Mon 10-18, Tue 9-18, Wed 9-10
    "sla": NO_SLA,
    "satisfaction": {"count": 1, "average": 1.0},
}
AGENT_A = {
    "agent": A,
    "opened": 3,  # G2, G3, G5
    "closed": 2,  # G1, G2
    "backlog": {"open": 0, "processing": 1, "waiting": 1, "total": 2},
    "first_response": durations(4, 6300.0, 12240.0),
    "resolution": durations(2, 24300.0, 32220.0),  # 14400, 34200
    "sla": NO_SLA,
    "satisfaction": {"count": 3, "average": 4.0},
}
AGENT_B = {
    "agent": B,
    "opened": 2,
    "closed": 1,
    "backlog": {"open": 0, "processing": 1, "waiting": 0, "total": 1},
    "first_response": durations(1, 1800.0, 1800.0),
    "resolution": durations(1, 64800.0, 64800.0),
    "sla": NO_SLA,
    "satisfaction": {"count": 1, "average": 1.0},
}


def without_names(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "name"} for row in rows]


async def test_an_admin_gets_every_service_and_agent_as_computed_by_hand(client, week):
    response = await client.get("/api/v1/stats", params=PERIOD, headers=week.admin.headers)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["from"], stats["to"]) == ("2026-11-01T21:00:00Z", "2026-11-08T21:00:00Z")
    assert without_names(stats["services"]) == [GENERAL, IT]
    assert [s["name"] for s in stats["services"]] == ["Общие вопросы", "IT"]
    assert sorted(without_names(stats["agents"]), key=lambda r: r["agent"]) == [AGENT_A, AGENT_B]


async def test_friday_evening_to_monday_morning_is_two_business_hours(client, week):
    """G1 alone (the other tickets are outside a period of Friday 17:00 to Monday 11:00)."""
    period = {"from": "2026-11-02T09:59:00+03:00", "to": "2026-11-02T10:30:00+03:00"}
    response = await client.get(
        "/api/v1/stats", params={**period, "service": "general"}, headers=week.admin.headers
    )
    [general] = response.json()["services"]
    assert general["first_response"] == durations(1, 7200.0, 7200.0)


async def test_csv_has_the_same_numbers(client, week):
    as_json = (await client.get("/api/v1/stats", params=PERIOD, headers=week.admin.headers)).json()
    response = await client.get(
        "/api/v1/stats", params={**PERIOD, "format": "csv"}, headers=week.admin.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="stats-20261101-20261108.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["scope"], r["service"] or r["agent"]) for r in rows] == [
        ("service", "general"),
        ("service", "it"),
        *(("agent", a["agent"]) for a in as_json["agents"]),
    ]

    def flat(row: dict[str, Any]) -> dict[str, str]:
        out = {"opened": str(row["opened"]), "closed": str(row["closed"])}
        out |= {f"backlog_{k}": str(v) for k, v in row["backlog"].items()}
        for name in ("first_response", "resolution"):
            for key, value in row[name].items():
                out[f"{name}_{key}"] = "" if value is None else str(value)
        out |= {f"sla_{k}": "" if v is None else str(v) for k, v in row["sla"].items()}
        out |= {
            f"satisfaction_{k}": "" if v is None else str(v) for k, v in row["satisfaction"].items()
        }
        return out

    expected = [flat(r) for r in as_json["services"] + as_json["agents"]]
    numbers = [{k: v for k, v in r.items() if k not in ("scope", "service", "agent", "name")}
               for r in rows]  # fmt: skip
    assert numbers == expected
    assert rows[0]["first_response_median_seconds"] == "6300.0"
    assert rows[1]["satisfaction_average"] == "1.0"


async def test_an_agent_sees_only_their_teams_services(client, week):
    response = await client.get("/api/v1/stats", params=PERIOD, headers=week.agent.headers)
    assert response.status_code == 200
    stats = response.json()
    assert without_names(stats["services"]) == [GENERAL]
    assert without_names(stats["agents"]) == [AGENT_A]
    mine = await client.get(
        "/api/v1/stats", params={**PERIOD, "service": "general"}, headers=week.agent.headers
    )
    assert without_names(mine.json()["services"]) == [GENERAL]
    for slug in ("it", "no-such-service"):
        refused = await client.get(
            "/api/v1/stats", params={**PERIOD, "service": slug}, headers=week.agent.headers
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "not_your_service"


async def test_an_agent_of_no_team_gets_empty_tables(app, client, week):
    loner = await auth_headers(app, "2999", Role.agent)
    response = await client.get("/api/v1/stats", params=PERIOD, headers=loner)
    assert response.status_code == 200
    assert response.json()["services"] == []
    assert response.json()["agents"] == []


async def test_employees_get_403_and_an_admin_404_for_an_unknown_service(client, week):
    for who in (week.author, week.other_employee):
        response = await client.get("/api/v1/stats", headers=who.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "staff_only"
    response = await client.get(
        "/api/v1/stats", params={"service": "nope"}, headers=week.admin.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_service"
    assert (await client.get("/api/v1/stats")).status_code == 401


async def test_a_service_with_nothing_is_a_row_of_zeros(client, people):
    response = await client.get("/api/v1/stats", params=PERIOD, headers=people.admin.headers)
    [general] = response.json()["services"]
    assert general["opened"] == general["closed"] == 0
    assert general["first_response"] == durations(0, None, None)
    assert general["satisfaction"] == {"count": 0, "average": None}
    assert response.json()["agents"] == []
    as_csv = await client.get(
        "/api/v1/stats", params={**PERIOD, "format": "csv"}, headers=people.admin.headers
    )
    [row] = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert row["first_response_median_seconds"] == ""


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"from": TO, "to": FROM}, 400, "invalid_period"),
        ({"from": FROM, "to": FROM}, 400, "invalid_period"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 400, "invalid_period"),
        ({"from": "0001-01-01T00:00:00+03:00"}, 400, "invalid_period"),
        ({"to": "0001-01-02T00:00:00Z"}, 400, "invalid_period"),
        ({"from": "yesterday"}, 422, "validation_error"),
        ({"to": "0.5"}, 422, "validation_error"),  # not a Unix time: ISO 8601 only
        ({"format": "xml"}, 422, "validation_error"),
        ({"service": "Not A Slug!"}, 422, "validation_error"),
    ],
)
async def test_bad_parameters_are_4xx(client, people, params, status, code):
    response = await client.get("/api/v1/stats", params=params, headers=people.admin.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_the_period_defaults_to_the_last_30_days_and_naive_times_are_utc(client, people):
    response = await client.get("/api/v1/stats", headers=people.admin.headers)
    stats = response.json()
    assert stats["from"] < stats["to"]
    naive = await client.get(
        "/api/v1/stats",
        params={"from": "2026-11-01T21:00:00", "to": "2026-11-08T21:00:00"},
        headers=people.admin.headers,
    )
    assert (naive.json()["from"], naive.json()["to"]) == (
        "2026-11-01T21:00:00Z",
        "2026-11-08T21:00:00Z",
    )


async def test_a_name_a_spreadsheet_would_run_stays_text_in_csv(client, week, sql):
    sql("UPDATE users SET display_name = '=HYPERLINK(\"http://x\")' WHERE discord_id = %s", A)
    response = await client.get(
        "/api/v1/stats", params={**PERIOD, "format": "csv"}, headers=week.admin.headers
    )
    [row] = [r for r in csv.DictReader(io.StringIO(response.text)) if r["agent"] == A]
    assert row["name"] == '\'=HYPERLINK("http://x")'
