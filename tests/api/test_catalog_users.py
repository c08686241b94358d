"""The services catalog (admins curate it) and users' roles (admins set them)."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error
from tests.factories import auth_headers, open_ticket
from ticket_service.users.models import Role


@pytest.fixture
async def employee(app):
    return await auth_headers(app, "5001")


@pytest.fixture
async def agent(app):
    return await auth_headers(app, "5800", Role.agent)


@pytest.fixture
async def admin(app):
    return await auth_headers(app, "5900", Role.admin)


async def slugs(client, headers) -> list[str]:
    r = await client.get("/api/v1/services", headers=headers)
    assert r.status_code == 200, r.text
    return [s["slug"] for s in r.json()["items"]]


async def test_everyone_sees_the_seeded_general_service(client, employee, agent, admin):
    for headers in (employee, agent, admin):
        assert await slugs(client, headers) == ["general"]
    [general] = (await client.get("/api/v1/services", headers=employee)).json()["items"]
    assert general["is_active"] is True
    assert general["name"]
    assert_error(await client.get("/api/v1/services"), 401, "missing_token")


async def test_admin_adds_a_service_and_tickets_can_use_it(client, employee, admin):
    r = await client.post(
        "/api/v1/services",
        json={"slug": "it", "name": "IT-поддержка", "description": "Ноутбуки, VPN"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert (created["slug"], created["name"], created["description"], created["is_active"]) == (
        "it",
        "IT-поддержка",
        "Ноутбуки, VPN",
        True,
    )
    assert await slugs(client, employee) == ["general", "it"]
    ticket = await open_ticket(client, employee, "VPN", service="it")
    assert ticket["service"] == "it"


async def test_only_admins_add_services(client, employee, agent):
    for headers in (employee, agent):
        r = await client.post(
            "/api/v1/services", json={"slug": "hr", "name": "HR"}, headers=headers
        )
        assert_error(r, 403, "admins_only")
    assert await slugs(client, employee) == ["general"]


async def test_duplicate_slug_is_409(client, admin):
    r = await client.post(
        "/api/v1/services", json={"slug": "general", "name": "Again"}, headers=admin
    )
    assert_error(r, 409, "service_exists")
    r = await client.post("/api/v1/services", json={"slug": "hr", "name": "HR"}, headers=admin)
    assert r.status_code == 201
    r = await client.post("/api/v1/services", json={"slug": "hr", "name": "HR 2"}, headers=admin)
    assert_error(r, 409, "service_exists")
    # The first one stands.
    r = await client.get("/api/v1/services", headers=admin)
    assert [s["name"] for s in r.json()["items"] if s["slug"] == "hr"] == ["HR"]


@pytest.mark.parametrize(
    "payload",
    [
        {"slug": "IT", "name": "upper case"},
        {"slug": "with space", "name": "x"},
        {"slug": "-dash-first", "name": "x"},
        {"slug": "", "name": "x"},
        {"slug": "a" * 65, "name": "x"},
        {"slug": "офис", "name": "x"},
        {"slug": "ok", "name": "   "},
        {"slug": "ok", "name": "x", "is_active": False},
        {"slug": "ok"},
        {"slug": "ok", "name": "x", "description": "NUL\x00inside"},
        {"slug": "ok", "name": "x", "description": "d" * 2001},
    ],
)
async def test_bad_service_payload_is_422(client, admin, payload):
    r = await client.post("/api/v1/services", json=payload, headers=admin)
    assert_error(r, 422, "validation_error")
    assert await slugs(client, admin) == ["general"]


async def test_deactivated_service_takes_no_new_tickets(client, employee, agent, admin):
    await client.post("/api/v1/services", json={"slug": "office", "name": "Офис"}, headers=admin)
    before = await open_ticket(client, employee, "Стул", service="office")

    r = await client.patch("/api/v1/services/office", json={"is_active": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert r.json()["name"] == "Офис"

    for path in ("/api/v1/tickets", "/api/tickets/open"):
        r = await client.post(path, json={"text": "Стол", "service": "office"}, headers=employee)
        error = assert_error(r, 400, "unknown_service")
        assert error["details"] == {"service": "office"}
    # Employees no longer see it; staff still do, marked inactive.
    assert await slugs(client, employee) == ["general"]
    staff_view = (await client.get("/api/v1/services", headers=agent)).json()["items"]
    assert {s["slug"]: s["is_active"] for s in staff_view} == {"general": True, "office": False}
    # Tickets already opened for it are untouched.
    r = await client.get(f"/api/v1/tickets/{before['guid_ticket']}", headers=employee)
    assert r.json()["service"] == "office"

    r = await client.patch(
        "/api/v1/services/office", json={"is_active": True, "name": "Офис и АХО"}, headers=admin
    )
    assert r.json()["name"] == "Офис и АХО"
    assert (await open_ticket(client, employee, "Стол", service="office"))["service"] == "office"


async def test_patch_rules(client, employee, agent, admin):
    r = await client.patch("/api/v1/services/nope", json={"name": "x"}, headers=admin)
    assert_error(r, 404, "service_not_found")
    for headers in (employee, agent):
        r = await client.patch(
            "/api/v1/services/general", json={"is_active": False}, headers=headers
        )
        assert_error(r, 403, "admins_only")
    r = await client.patch("/api/v1/services/general", json={"slug": "renamed"}, headers=admin)
    assert_error(r, 422, "validation_error")
    r = await client.patch("/api/v1/services/general", json={"is_active": "nah"}, headers=admin)
    assert_error(r, 422, "validation_error")
    r = await client.patch("/api/v1/services/general", json={"description": "a\x00"}, headers=admin)
    assert_error(r, 422, "validation_error")
    # A path that can never be a slug is refused before any lookup.
    r = await client.patch("/api/v1/services/gen%00eral", json={"name": "x"}, headers=admin)
    assert_error(r, 422, "validation_error")
    assert await slugs(client, employee) == ["general"]


async def test_me(client, employee, admin):
    r = await client.get("/api/v1/me", headers=employee)
    assert r.status_code == 200
    me = r.json()
    assert (me["discord_id"], me["role"]) == ("5001", "employee")
    assert (await client.get("/api/v1/me", headers=admin)).json()["role"] == "admin"
    assert_error(await client.get("/api/v1/me"), 401, "missing_token")
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer forged"})
    assert_error(r, 401, "invalid_token")


async def test_role_change_is_admin_only(client, employee, agent, admin):
    for headers in (employee, agent):
        r = await client.put("/api/v1/users/5001/role", json={"role": "admin"}, headers=headers)
        assert_error(r, 403, "admins_only")
    assert (await client.get("/api/v1/me", headers=employee)).json()["role"] == "employee"

    r = await client.put("/api/v1/users/999999/role", json={"role": "agent"}, headers=admin)
    assert_error(r, 404, "user_not_found")
    r = await client.put("/api/v1/users/5001/role", json={"role": "boss"}, headers=admin)
    assert_error(r, 422, "validation_error")
    r = await client.put("/api/v1/users/not-digits/role", json={"role": "agent"}, headers=admin)
    assert_error(r, 422, "validation_error")
    assert (await client.get("/api/v1/me", headers=employee)).json()["role"] == "employee"


async def test_promoted_employee_on_a_team_sees_others_tickets(client, app, employee, admin):
    other = await auth_headers(app, "5002")
    theirs = await open_ticket(client, other, "Чужая заявка")
    mine = await open_ticket(client, employee, "Моя заявка")

    r = await client.get("/api/v1/tickets", headers=employee)
    assert [t["guid_ticket"] for t in r.json()["items"]] == [mine["guid_ticket"]]
    assert_error(
        await client.get(f"/api/v1/tickets/{theirs['guid_ticket']}", headers=employee),
        404,
        "ticket_not_found",
    )

    r = await client.put("/api/v1/users/5001/role", json={"role": "agent"}, headers=admin)
    assert r.status_code == 200, r.text
    assert (r.json()["discord_id"], r.json()["role"]) == ("5001", "agent")

    # Same token, new rights: an agent, but on no team yet, so still only their own.
    assert (await client.get("/api/v1/me", headers=employee)).json()["role"] == "agent"
    r = await client.get("/api/v1/tickets", headers=employee)
    assert [t["guid_ticket"] for t in r.json()["items"]] == [mine["guid_ticket"]]
    # On the `general` team, they see and work its tickets.
    r = await client.put("/api/v1/services/general/agents/5001", headers=admin)
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/tickets", headers=employee)
    assert {t["guid_ticket"] for t in r.json()["items"]} == {
        mine["guid_ticket"],
        theirs["guid_ticket"],
    }
    r = await client.post(
        "/api/tickets/change_status",
        json={"guid_ticket": theirs["guid_ticket"], "new_status": "processing"},
        headers=employee,
    )
    assert r.status_code == 200, r.text
    assert r.json()["response"]["assignee"] == "5001"

    # And back: demoted, the other's ticket is out of sight again.
    await client.put("/api/v1/users/5001/role", json={"role": "employee"}, headers=admin)
    r = await client.get("/api/v1/tickets", headers=employee)
    assert [t["guid_ticket"] for t in r.json()["items"]] == [mine["guid_ticket"]]
