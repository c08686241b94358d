"""The admin API of calendars and a service's SLA: validation (a bad time zone or bad
hours are a 422, never a 500), conflicts, and what agents and employees may do."""

from __future__ import annotations

import pytest

from tests.factories import open_ticket
from tests.sla.conftest import ALWAYS_HOURS, set_sla

MSK_5X9 = {
    "slug": "msk-5x9",
    "name": "Москва, пятидневка",
    "time_zone": "Europe/Moscow",
    "hours": {
        d: [["09:00", "13:00"], ["14:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
    },
    "holidays": ["2027-01-07", "2027-01-01"],
}


async def test_an_admin_creates_reads_replaces_and_deletes_a_calendar(client, people):
    created = await client.post("/api/v1/calendars", json=MSK_5X9, headers=people.admin.headers)
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/api/v1/calendars/msk-5x9"
    body = created.json()
    assert body["hours"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
    assert "sat" not in body["hours"]
    assert body["holidays"] == ["2027-01-01", "2027-01-07"]

    listed = await client.get("/api/v1/calendars", headers=people.agent.headers)
    assert [c["slug"] for c in listed.json()["items"]] == ["msk-5x9"]
    one = await client.get("/api/v1/calendars/msk-5x9", headers=people.agent.headers)
    assert one.json()["time_zone"] == "Europe/Moscow"

    again = await client.post("/api/v1/calendars", json=MSK_5X9, headers=people.admin.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "calendar_exists"

    replaced = await client.put(
        "/api/v1/calendars/msk-5x9",
        json={"name": "24/7", "time_zone": "Asia/Vladivostok", "hours": ALWAYS_HOURS},
        headers=people.admin.headers,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["hours"]["sun"] == [["00:00", "24:00"]]
    assert replaced.json()["holidays"] == []

    await set_sla(client, people.admin, calendar="msk-5x9")
    in_use = await client.delete("/api/v1/calendars/msk-5x9", headers=people.admin.headers)
    assert in_use.status_code == 409
    assert in_use.json()["error"]["details"] == {"services": ["general"]}
    await set_sla(client, people.admin, calendar=None)
    gone = await client.delete("/api/v1/calendars/msk-5x9", headers=people.admin.headers)
    assert gone.status_code == 204
    missing = await client.get("/api/v1/calendars/msk-5x9", headers=people.admin.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "calendar_not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"time_zone": "Mars/Olympus_Mons"},
        {"time_zone": "../../etc/passwd"},
        {"time_zone": ""},
        {"hours": {"mon": [["18:00", "09:00"]]}},
        {"hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}},
        {"hours": {"mon": [["9:00", "18:00"]]}},
        {"hours": {"mon": [["09:00", "25:00"]]}},
        {"hours": {"mon": [["09:00"]]}},
        {"hours": {"funday": [["09:00", "18:00"]]}},
        {"hours": {}},
        {"hours": {"mon": []}},
        {"holidays": ["2027-02-30"]},
        {"slug": "Bad Slug"},
        {"name": "   "},
        {"extra": 1},
    ],
)
async def test_a_bad_calendar_is_a_422(client, people, change):
    response = await client.post(
        "/api/v1/calendars", json={**MSK_5X9, **change}, headers=people.admin.headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"]


async def test_a_service_sla_is_set_and_read_back(client, people):
    await client.post("/api/v1/calendars", json=MSK_5X9, headers=people.admin.headers)
    response = await client.put(
        "/api/v1/services/general/sla",
        json={
            "calendar": "msk-5x9",
            "auto_close_days": 5,
            "policies": [
                {"priority": "normal", "first_response_minutes": 240, "resolution_minutes": 2700},
                {"priority": "urgent", "first_response_minutes": 30, "resolution_minutes": 240},
            ],
        },
        headers=people.admin.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["calendar"]["slug"] == "msk-5x9"
    assert body["calendar_is_default"] is False
    assert body["auto_close_days"] == 5
    assert [p["priority"] for p in body["policies"]] == ["urgent", "normal"]
    # Agents may read it; a new ticket is under it.
    read = await client.get("/api/v1/services/general/sla", headers=people.agent.headers)
    assert read.json() == body
    urgent = await open_ticket(client, people.author.headers, priority="urgent")
    assert urgent["sla"] is not None
    # Taking urgent out: new urgent tickets have no SLA, the one open keeps its own.
    await set_sla(client, people.admin, calendar="msk-5x9", priority="normal")
    assert (await open_ticket(client, people.author.headers, priority="urgent"))["sla"] is None
    kept = await client.get(
        f"/api/v1/tickets/{urgent['guid_ticket']}", headers=people.agent.headers
    )
    assert kept.json()["sla"] == urgent["sla"] | {
        "remaining_seconds": kept.json()["sla"]["remaining_seconds"]
    }
    # ...and putting it back reuses the policy.
    await set_sla(client, people.admin, calendar="msk-5x9", priority="urgent", first=15)
    read = await client.get("/api/v1/services/general/sla", headers=people.agent.headers)
    assert read.json()["policies"] == [
        {"priority": "urgent", "first_response_minutes": 15, "resolution_minutes": 600}
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"calendar": "nope", "policies": []}, 404, "calendar_not_found"),
        ({"calendar": None, "auto_close_days": -1, "policies": []}, 422, None),
        (
            {
                "calendar": None,
                "policies": [
                    {"priority": "normal", "first_response_minutes": 0, "resolution_minutes": 5}
                ],
            },
            422,
            None,
        ),
        (
            {
                "calendar": None,
                "policies": [
                    {"priority": "asap", "first_response_minutes": 1, "resolution_minutes": 5}
                ],
            },
            422,
            None,
        ),
        (
            {
                "calendar": None,
                "policies": [
                    {"priority": "normal", "first_response_minutes": 1, "resolution_minutes": 5},
                    {"priority": "normal", "first_response_minutes": 2, "resolution_minutes": 6},
                ],
            },
            422,
            None,
        ),
        (
            {
                "calendar": None,
                "policies": [
                    {"priority": "normal", "first_response_minutes": 10**9, "resolution_minutes": 5}
                ],
            },
            422,
            None,
        ),
    ],
)
async def test_a_bad_service_sla_is_refused(client, people, body, status, code):
    response = await client.put(
        "/api/v1/services/general/sla", json=body, headers=people.admin.headers
    )
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code


async def test_unknown_service(client, people):
    response = await client.get("/api/v1/services/nope/sla", headers=people.admin.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "service_not_found"
    put = await client.put(
        "/api/v1/services/nope/sla",
        json={"calendar": None, "policies": []},
        headers=people.admin.headers,
    )
    assert put.status_code == 404


async def test_employees_may_not_read_and_agents_may_not_write(client, people):
    assert (await client.get("/api/v1/calendars", headers=people.author.headers)).status_code == 403
    assert (
        await client.get("/api/v1/services/general/sla", headers=people.author.headers)
    ).status_code == 403
    post = await client.post("/api/v1/calendars", json=MSK_5X9, headers=people.agent.headers)
    assert post.status_code == 403
    put = await client.put(
        "/api/v1/services/general/sla",
        json={"calendar": None, "policies": []},
        headers=people.agent.headers,
    )
    assert put.status_code == 403
