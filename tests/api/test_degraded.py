"""Health checks, and what a client sees when Redis or PostgreSQL is unreachable."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.api.conftest import assert_error, on_closed_port, running
from tests.conftest import make_settings
from tests.factories import auth_headers, join_team, token_for
from ticket_service.users.models import Role


async def test_live(client):
    r = await client.get("/health/live")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_ready_with_everything_up(client):
    r = await client.get("/health/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "up", "migrations": "current", "redis": "up"}


@pytest.fixture
def redis_down_settings(database_url, closed_port, discord):
    return make_settings(
        database_url, f"redis://127.0.0.1:{closed_port}/0", discord.url_for("/api/v10")
    )


async def test_redis_down_core_still_works(redis_down_settings, database_url):
    async with running(redis_down_settings) as (app, client):
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json() == {
            "status": "degraded",
            "database": "up",
            "migrations": "current",
            "redis": "down",
        }

        employee = await auth_headers(app, "4001")
        agent = await auth_headers(app, "4900", Role.agent)
        await join_team(app, "4900")

        r = await client.post("/api/v1/tickets", json={"text": "Redis лёг"}, headers=employee)
        assert r.status_code == 201, r.text
        assert r.headers["x-action-id"]
        v1 = r.json()
        r = await client.post("/api/tickets/open", json={"text": "И это тоже"}, headers=employee)
        assert r.status_code == 200, r.text
        seed = r.json()["response"]
        assert seed["guid_action"] == r.headers["x-action-id"]

        r = await client.post(
            "/api/tickets/change_status",
            json={"guid_ticket": seed["guid_ticket"], "new_status": "processing"},
            headers=agent,
        )
        assert r.status_code == 200, r.text
        change_action = r.json()["response"]["guid_action"]
        r = await client.post(
            f"/api/v1/tickets/{v1['guid_ticket']}/status",
            json={"status": "closed_fail"},
            headers=employee,
        )
        assert r.status_code == 200, r.text

        r = await client.get("/api/tickets/get", headers=employee)
        assert r.status_code == 200
        listed = {t["guid_ticket"]: t["status"] for t in r.json()["response"]["relevant_tickets"]}
        assert listed == {
            v1["guid_ticket"]: "closed_fail",
            seed["guid_ticket"]: "processing",
        }
        r = await client.get("/api/v1/tickets", headers=agent)
        assert r.status_code == 200
        assert len(r.json()["items"]) == 2

        # Errors still have their usual shape and status.
        assert_error(await client.get("/api/v1/tickets"), 401, "missing_token")

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT kind, to_status, guid_action::text FROM ticket_events"
            " WHERE ticket_id = %s ORDER BY id",
            (seed["guid_ticket"],),
        ).fetchall()
        assert rows == [
            ("opened", "open", seed["guid_action"]),
            ("assigned", None, change_action),
            ("status_changed", "processing", change_action),
        ]
        (count,) = conn.execute("SELECT count(*) FROM ticket_events").fetchone()
        assert count == 5


@pytest.fixture
def database_down_settings(database_url, redis_url, closed_port, discord):
    down = on_closed_port(database_url, closed_port)
    return make_settings(down, redis_url, discord.url_for("/api/v10"))


async def test_database_down_is_503_not_500(app, database_down_settings):
    # A token minted while the database was reachable; the broken app cannot check it.
    token = await token_for(app, "4001")
    headers = {"Authorization": f"Bearer {token}"}
    async with running(database_down_settings) as (_, client):
        r = await client.get("/health/ready")
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "database": "down", "redis": "up"}
        assert (await client.get("/health/live")).status_code == 200

        guid = str(uuid.uuid4())
        attempts = [
            client.post("/api/v1/tickets", json={"text": "БД недоступна"}, headers=headers),
            client.get("/api/v1/tickets", headers=headers),
            client.get(f"/api/v1/tickets/{guid}", headers=headers),
            client.post(f"/api/v1/tickets/{guid}/status", json={"status": "open"}, headers=headers),
            client.post("/api/tickets/open", json={"text": "x"}, headers=headers),
            client.get("/api/tickets/get", headers={"access_token": token}),
            client.post(
                "/api/tickets/change_status",
                json={"guid_ticket": guid, "new_status": "open"},
                headers=headers,
            ),
            client.get("/api/v1/services", headers=headers),
            client.get("/api/v1/me", headers=headers),
        ]
        for attempt in attempts:
            r = await attempt
            assert_error(r, 503, "database_unavailable")
            assert r.headers["retry-after"] == "5"
            assert r.headers["x-action-id"]
        # What needs no database keeps its own answer.
        assert_error(await client.get("/api/v1/tickets"), 401, "missing_token")
        assert_error(await client.get("/nope", headers=headers), 404, "not_found")
